import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkType } from '../capture/link-type.js';
import { buildPacket, decodeFrame } from './build-packet.js';
import { DecodeIssue } from './decode-issue.js';
import { IpProtocol } from './ip-protocol.js';

const tcp = { ipVersion: 4, protocol: IpProtocol.TCP, srcPort: 51000, dstPort: 443, tcpFlags: 0x18 } as const;

describe('decodeIpv4', () => {
  it('decodes addresses as network-order words, protocol, ports, flags and total length', () => {
    const frame = buildPacket({ ...tcp, src: '10.1.2.3', dst: '255.254.253.252', payloadBytes: 100 });
    const { issue, packet } = decodeFrame(frame);
    assert.equal(issue, null);
    assert.equal(packet.ipVersion, 4);
    assert.deepEqual([...packet.srcAddr], [0x0a010203, 0, 0, 0]);
    assert.deepEqual([...packet.dstAddr], [0xfffefdfc, 0, 0, 0]);
    assert.equal(packet.protocol, IpProtocol.TCP);
    assert.equal(packet.srcPort, 51000);
    assert.equal(packet.dstPort, 443);
    assert.equal(packet.tcpFlags, 0x18);
    assert.equal(packet.ipBytes, 20 + 20 + 100);
    assert.equal(packet.isFragment, false);
    assert.equal(packet.fragmentId, 0x1234);
  });

  it('skips options to find the transport header (IHL > 5)', () => {
    for (const ipv4OptionBytes of [4, 12, 40]) {
      const { issue, packet } = decodeFrame(buildPacket({ ...tcp, ipv4OptionBytes }));
      assert.equal(issue, null);
      assert.equal(packet.dstPort, 443);
      assert.equal(packet.ipBytes, 20 + ipv4OptionBytes + 20);
    }
  });

  it('reports IHL < 5 as bad_ipv4_header_length', () => {
    for (const ihl of [0, 1, 4]) {
      const frame = buildPacket(tcp);
      frame[14] = 0x40 | ihl;
      assert.equal(decodeFrame(frame).issue, DecodeIssue.BAD_IPV4_HEADER_LENGTH);
    }
  });

  it('reports a header or options cut by the capture as truncated_ipv4', () => {
    assert.equal(decodeFrame(buildPacket(tcp), LinkType.ETHERNET, 14 + 19).issue, DecodeIssue.TRUNCATED_IPV4);
    const withOptions = buildPacket({ ...tcp, ipv4OptionBytes: 8 });
    assert.equal(decodeFrame(withOptions, LinkType.ETHERNET, 14 + 27).issue, DecodeIssue.TRUNCATED_IPV4);
  });

  it('reports a version nibble other than 4', () => {
    const frame = buildPacket(tcp);
    frame[14] = 0x65;
    assert.equal(decodeFrame(frame).issue, DecodeIssue.BAD_IP_VERSION);
  });

  it('decodes a first fragment with ports, and middle and last fragments without', () => {
    const first = decodeFrame(buildPacket({ ...tcp, ipv4Fragment: { offset: 0, more: true, id: 0xbeef } })).packet;
    assert.equal(first.isFragment, true);
    assert.equal(first.moreFragments, true);
    assert.equal(first.fragmentOffset, 0);
    assert.equal(first.fragmentId, 0xbeef);
    assert.equal(first.dstPort, 443);

    const middle = decodeFrame(
      buildPacket({ ...tcp, ipv4Fragment: { offset: 1480, more: true, id: 0xbeef }, omitTransportHeader: true, payloadBytes: 1480 }),
    );
    assert.equal(middle.issue, null);
    assert.equal(middle.packet.isFragment, true);
    assert.equal(middle.packet.moreFragments, true);
    assert.equal(middle.packet.fragmentOffset, 1480);
    assert.equal(middle.packet.protocol, IpProtocol.TCP);
    assert.equal(middle.packet.srcPort, 0);
    assert.equal(middle.packet.dstPort, 0);
    assert.equal(middle.packet.tcpFlags, 0);

    // The last fragment may be shorter than any transport header: it must not be read as one.
    const last = decodeFrame(
      buildPacket({ ...tcp, ipv4Fragment: { offset: 2960, more: false, id: 0xbeef }, omitTransportHeader: true, payloadBytes: 3 }),
    );
    assert.equal(last.issue, null);
    assert.equal(last.packet.isFragment, true);
    assert.equal(last.packet.moreFragments, false);
    assert.equal(last.packet.fragmentOffset, 2960);
    assert.equal(last.packet.dstPort, 0);
    assert.equal(last.packet.ipBytes, 23);
  });

  it('uses the largest fragment offset (8191 * 8)', () => {
    const frame = buildPacket({ ...tcp, ipv4Fragment: { offset: 8191 * 8, more: false, id: 1 }, omitTransportHeader: true });
    assert.equal(decodeFrame(frame).packet.fragmentOffset, 65528);
  });

  it('uses Total Length, not the padded frame length', () => {
    // A bare 40-byte TCP/IP packet is padded to the 60-byte Ethernet minimum.
    const frame = buildPacket({ ...tcp, trailerBytes: 6 });
    const { issue, packet } = decodeFrame(frame);
    assert.equal(issue, null);
    assert.equal(packet.ipBytes, 40);
  });

  it('never reads link padding as a transport header', () => {
    // Total Length says the datagram ends after the IP header; the 20 bytes after it are padding.
    const frame = buildPacket({ ...tcp, trailerBytes: 0 });
    frame[16] = 0;
    frame[17] = 20;
    assert.equal(decodeFrame(frame).issue, DecodeIssue.TRUNCATED_TCP);
  });

  it('falls back to the wire length when Total Length is 0 (TSO)', () => {
    const frame = buildPacket({ ...tcp, payloadBytes: 60 });
    frame[16] = 0;
    frame[17] = 0;
    const { issue, packet } = decodeFrame(frame, LinkType.ETHERNET, 64, 14 + 9000);
    assert.equal(issue, null);
    assert.equal(packet.ipBytes, 9000);
    assert.equal(packet.dstPort, 443);
  });

  it('reports a Total Length below the header length', () => {
    const frame = buildPacket({ ...tcp, ipv4OptionBytes: 8 });
    frame[17] = 27;
    frame[16] = 0;
    assert.equal(decodeFrame(frame).issue, DecodeIssue.BAD_IPV4_TOTAL_LENGTH);
  });

  it('reports a Total Length beyond the wire length and accepts one that matches it', () => {
    const frame = buildPacket({ ...tcp, payloadBytes: 10 });
    assert.equal(decodeFrame(frame, LinkType.ETHERNET, frame.length, frame.length).issue, null);
    assert.equal(decodeFrame(frame, LinkType.ETHERNET, frame.length - 5, frame.length - 1).issue, DecodeIssue.IPV4_TOTAL_LENGTH_EXCEEDS_WIRE);
  });

  it('decodes a snaplen-cut packet whose headers were captured, with the full ipBytes', () => {
    const frame = buildPacket({ ...tcp, payloadBytes: 1400 });
    const { issue, packet } = decodeFrame(frame, LinkType.ETHERNET, 14 + 20 + 14, frame.length);
    assert.equal(issue, null);
    assert.equal(packet.ipBytes, 1440);
    assert.equal(packet.tcpFlags, 0x18);
  });
});
