import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkType } from '../capture/link-type.js';
import { buildPacket, decodeFrame, type Ipv6ExtensionSpec } from './build-packet.js';
import { DecodeIssue } from './decode-issue.js';
import { IpProtocol } from './ip-protocol.js';
import { MAX_IPV6_EXTENSION_HEADERS } from './ipv6.js';

const udp = { ipVersion: 6, protocol: IpProtocol.UDP, srcPort: 5353, dstPort: 53 } as const;
/** Ethernet header + IPv6 header. */
const L3 = 14 + 40;

describe('decodeIpv6', () => {
  it('decodes the four address words, protocol, ports and 40 + payload length', () => {
    const frame = buildPacket({ ...udp, src: '2001:db8:1:2:3:4:5:6', dst: 'ff02::fb', payloadBytes: 12 });
    const { issue, packet } = decodeFrame(frame);
    assert.equal(issue, null);
    assert.equal(packet.ipVersion, 6);
    assert.deepEqual([...packet.srcAddr], [0x20010db8, 0x00010002, 0x00030004, 0x00050006]);
    assert.deepEqual([...packet.dstAddr], [0xff020000, 0, 0, 0xfb]);
    assert.equal(packet.protocol, IpProtocol.UDP);
    assert.equal(packet.srcPort, 5353);
    assert.equal(packet.dstPort, 53);
    assert.equal(packet.ipBytes, 40 + 8 + 12);
    assert.equal(packet.isFragment, false);
    assert.equal(packet.fragmentId, 0);
  });

  it('walks hop-by-hop, routing and destination options headers ((len + 1) * 8 bytes, RFC 8200 §4)', () => {
    for (const type of [0, 43, 60] as const) {
      for (const bytes of [8, 16, 2048]) {
        const { issue, packet } = decodeFrame(buildPacket({ ...udp, ipv6Extensions: [{ type, bytes }] }));
        assert.equal(issue, null, `type ${type} bytes ${bytes}`);
        assert.equal(packet.protocol, IpProtocol.UDP);
        assert.equal(packet.dstPort, 53);
      }
    }
  });

  it('walks an AH with the RFC 4302 length rule ((len + 2) * 4 bytes)', () => {
    // 12 bytes: Payload Len 1. Read with the RFC 8200 rule this would be 16 bytes, and wrong.
    for (const bytes of [12, 16, 24, 28]) {
      const { issue, packet } = decodeFrame(buildPacket({ ...udp, ipv6Extensions: [{ type: 51, bytes }] }));
      assert.equal(issue, null, `AH of ${bytes} bytes`);
      assert.equal(packet.protocol, IpProtocol.UDP);
      assert.equal(packet.srcPort, 5353);
      assert.equal(packet.dstPort, 53);
    }
  });

  it('walks a chain of every extension header type', () => {
    const chain: Ipv6ExtensionSpec[] = [
      { type: 0, bytes: 8 },
      { type: 60, bytes: 16 },
      { type: 43, bytes: 24 },
      { type: 44, offset: 0, more: true, id: 7 },
      { type: 51, bytes: 24 },
      { type: 60, bytes: 8 },
    ];
    const { issue, packet } = decodeFrame(buildPacket({ ...udp, protocol: IpProtocol.TCP, tcpFlags: 0x11, ipv6Extensions: chain }));
    assert.equal(issue, null);
    assert.equal(packet.protocol, IpProtocol.TCP);
    assert.equal(packet.dstPort, 53);
    assert.equal(packet.tcpFlags, 0x11);
    assert.equal(packet.isFragment, true);
  });

  it('decodes a first fragment with ports and a non-first fragment without', () => {
    const first = decodeFrame(buildPacket({ ...udp, ipv6Extensions: [{ type: 44, offset: 0, more: true, id: 0xdeadbeef }] })).packet;
    assert.equal(first.isFragment, true);
    assert.equal(first.moreFragments, true);
    assert.equal(first.fragmentOffset, 0);
    assert.equal(first.fragmentId, 0xdeadbeef);
    assert.equal(first.protocol, IpProtocol.UDP);
    assert.equal(first.dstPort, 53);

    for (const more of [true, false]) {
      const later = decodeFrame(
        buildPacket({ ...udp, ipv6Extensions: [{ type: 44, offset: 1232, more, id: 0xdeadbeef }], omitTransportHeader: true, payloadBytes: 1 }),
      );
      assert.equal(later.issue, null);
      assert.equal(later.packet.isFragment, true);
      assert.equal(later.packet.moreFragments, more);
      assert.equal(later.packet.fragmentOffset, 1232);
      assert.equal(later.packet.fragmentId, 0xdeadbeef);
      assert.equal(later.packet.protocol, IpProtocol.UDP);
      assert.equal(later.packet.srcPort, 0);
      assert.equal(later.packet.dstPort, 0);
    }
  });

  it('treats an atomic fragment (offset 0, M 0; RFC 6946) as a fragment with ports', () => {
    const { packet } = decodeFrame(buildPacket({ ...udp, ipv6Extensions: [{ type: 44, offset: 0, more: false, id: 1 }] }));
    assert.equal(packet.isFragment, true);
    assert.equal(packet.moreFragments, false);
    assert.equal(packet.dstPort, 53);
  });

  it('stops at ESP and at No Next Header with ports 0', () => {
    const esp = decodeFrame(buildPacket({ ...udp, protocol: IpProtocol.ESP, ipv6Extensions: [{ type: 0 }] }));
    assert.equal(esp.issue, null);
    assert.equal(esp.packet.protocol, IpProtocol.ESP);
    assert.equal(esp.packet.dstPort, 0);
    const none = decodeFrame(buildPacket({ ...udp, protocol: IpProtocol.NO_NEXT_HEADER, ipv6Extensions: [{ type: 60 }] }));
    assert.equal(none.issue, null);
    assert.equal(none.packet.protocol, IpProtocol.NO_NEXT_HEADER);
    assert.equal(none.packet.srcPort, 0);
  });

  it('reports extension headers cut by the capture or running past the payload', () => {
    const frame = buildPacket({ ...udp, ipv6Extensions: [{ type: 0, bytes: 16 }] });
    assert.equal(decodeFrame(frame, LinkType.ETHERNET, L3 + 1).issue, DecodeIssue.TRUNCATED_IPV6_EXTENSION);
    assert.equal(decodeFrame(frame, LinkType.ETHERNET, L3 + 15).issue, DecodeIssue.TRUNCATED_IPV6_EXTENSION);
    assert.equal(decodeFrame(frame, LinkType.ETHERNET, L3 + 16).issue, DecodeIssue.TRUNCATED_UDP);
    const lying = buildPacket({ ...udp, ipv6Extensions: [{ type: 0, bytes: 16 }] });
    lying[L3 + 1] = 200; // claims 1608 bytes in a 24-byte payload
    assert.equal(decodeFrame(lying).issue, DecodeIssue.TRUNCATED_IPV6_EXTENSION);
    const fragment = buildPacket({ ...udp, ipv6Extensions: [{ type: 44, offset: 0, more: true, id: 1 }] });
    assert.equal(decodeFrame(fragment, LinkType.ETHERNET, L3 + 7).issue, DecodeIssue.TRUNCATED_IPV6_EXTENSION);
    const ah = buildPacket({ ...udp, ipv6Extensions: [{ type: 51, bytes: 24 }] });
    assert.equal(decodeFrame(ah, LinkType.ETHERNET, L3 + 1).issue, DecodeIssue.TRUNCATED_IPV6_EXTENSION);
    assert.equal(decodeFrame(ah, LinkType.ETHERNET, L3 + 23).issue, DecodeIssue.TRUNCATED_IPV6_EXTENSION);
  });

  it(`walks ${MAX_IPV6_EXTENSION_HEADERS} extension headers and reports longer chains`, () => {
    const chain = (n: number): Ipv6ExtensionSpec[] => Array.from({ length: n }, () => ({ type: 60 as const }));
    assert.equal(decodeFrame(buildPacket({ ...udp, ipv6Extensions: chain(MAX_IPV6_EXTENSION_HEADERS) })).issue, null);
    assert.equal(
      decodeFrame(buildPacket({ ...udp, ipv6Extensions: chain(MAX_IPV6_EXTENSION_HEADERS + 1) })).issue,
      DecodeIssue.TOO_MANY_IPV6_EXTENSIONS,
    );
  });

  it('reports a header cut by the capture and a wrong version nibble', () => {
    const frame = buildPacket(udp);
    assert.equal(decodeFrame(frame, LinkType.ETHERNET, L3 - 1).issue, DecodeIssue.TRUNCATED_IPV6);
    frame[14] = 0x45;
    assert.equal(decodeFrame(frame).issue, DecodeIssue.BAD_IP_VERSION);
  });

  it('uses the wire length for Payload Length 0 (jumbogram, BIG TCP)', () => {
    const jumbo = buildPacket({ ...udp, ipv6Extensions: [{ type: 0, bytes: 8 }], payloadBytes: 100 });
    jumbo[18] = 0;
    jumbo[19] = 0;
    const { issue, packet } = decodeFrame(jumbo, LinkType.ETHERNET, jumbo.length, 14 + 70000);
    assert.equal(issue, null);
    assert.equal(packet.ipBytes, 70000);
    assert.equal(packet.dstPort, 53);
  });

  it('takes Payload Length 0 with No Next Header literally, ignoring Ethernet padding', () => {
    const empty = buildPacket({ ...udp, protocol: IpProtocol.NO_NEXT_HEADER, trailerBytes: 6 });
    const { issue, packet } = decodeFrame(empty);
    assert.equal(issue, null);
    assert.equal(packet.ipBytes, 40);
    assert.equal(packet.protocol, IpProtocol.NO_NEXT_HEADER);
  });

  it('reports a Payload Length beyond the wire length, and ignores link padding', () => {
    const frame = buildPacket({ ...udp, payloadBytes: 4 });
    assert.equal(
      decodeFrame(frame, LinkType.ETHERNET, frame.length - 1, frame.length - 1).issue,
      DecodeIssue.IPV6_PAYLOAD_LENGTH_EXCEEDS_WIRE,
    );
    const padded = buildPacket({ ...udp, trailerBytes: 30 });
    padded[19] = 2; // payload of 2 bytes: the UDP ports are not all inside it, the rest is padding
    assert.equal(decodeFrame(padded).issue, DecodeIssue.TRUNCATED_UDP);
  });
});
