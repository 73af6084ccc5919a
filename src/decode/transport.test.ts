import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkType } from '../capture/link-type.js';
import { buildPacket, decodeFrame } from './build-packet.js';
import { DecodeIssue } from './decode-issue.js';
import { IpProtocol } from './ip-protocol.js';

describe('decodeTransport', () => {
  it('reads TCP ports and the flags byte', () => {
    for (const tcpFlags of [0x02, 0x12, 0x11, 0x04, 0xc2, 0xff]) {
      const { packet } = decodeFrame(buildPacket({ ipVersion: 4, protocol: IpProtocol.TCP, srcPort: 65535, dstPort: 1, tcpFlags }));
      assert.equal(packet.srcPort, 65535);
      assert.equal(packet.dstPort, 1);
      assert.equal(packet.tcpFlags, tcpFlags);
    }
  });

  it('reads UDP and SCTP ports, with no TCP flags', () => {
    for (const protocol of [IpProtocol.UDP, IpProtocol.SCTP]) {
      for (const ipVersion of [4, 6] as const) {
        const { issue, packet } = decodeFrame(buildPacket({ ipVersion, protocol, srcPort: 2905, dstPort: 36412 }));
        assert.equal(issue, null);
        assert.equal(packet.protocol, protocol);
        assert.equal(packet.srcPort, 2905);
        assert.equal(packet.dstPort, 36412);
        assert.equal(packet.tcpFlags, 0);
      }
    }
  });

  it('maps ICMP (RFC 792) and ICMPv6 (RFC 4443) type and code to dstPort = type * 256 + code', () => {
    const cases = [
      { ipVersion: 4, protocol: IpProtocol.ICMP, icmpType: 8, icmpCode: 0, dstPort: 2048 }, // echo request
      { ipVersion: 4, protocol: IpProtocol.ICMP, icmpType: 3, icmpCode: 4, dstPort: 772 }, // frag needed
      { ipVersion: 6, protocol: IpProtocol.ICMPV6, icmpType: 128, icmpCode: 0, dstPort: 32768 }, // echo request
      { ipVersion: 6, protocol: IpProtocol.ICMPV6, icmpType: 1, icmpCode: 3, dstPort: 259 }, // addr unreachable
      { ipVersion: 6, protocol: IpProtocol.ICMPV6, icmpType: 255, icmpCode: 255, dstPort: 65535 },
    ] as const;
    for (const { dstPort, ...spec } of cases) {
      const { issue, packet } = decodeFrame(buildPacket(spec));
      assert.equal(issue, null);
      assert.equal(packet.protocol, spec.protocol);
      assert.equal(packet.srcPort, 0);
      assert.equal(packet.dstPort, dstPort);
    }
  });

  it('gives GRE, ESP, AH over IPv4 and unknown protocols ports 0', () => {
    for (const protocol of [IpProtocol.GRE, IpProtocol.ESP, IpProtocol.AH, 4, 41, 89, 253, 255]) {
      for (const ipVersion of [4, 6] as const) {
        if (ipVersion === 6 && protocol === IpProtocol.AH) continue; // an extension header in IPv6
        const { issue, packet } = decodeFrame(buildPacket({ ipVersion, protocol, payloadBytes: 40 }));
        assert.equal(issue, null, `protocol ${protocol}`);
        assert.equal(packet.protocol, protocol);
        assert.equal(packet.srcPort, 0);
        assert.equal(packet.dstPort, 0);
        assert.equal(packet.tcpFlags, 0);
      }
    }
  });

  it('reports each transport header too short to read', () => {
    const cases = [
      { protocol: IpProtocol.TCP, ipVersion: 4, need: 14, issue: DecodeIssue.TRUNCATED_TCP },
      { protocol: IpProtocol.UDP, ipVersion: 4, need: 4, issue: DecodeIssue.TRUNCATED_UDP },
      { protocol: IpProtocol.SCTP, ipVersion: 6, need: 4, issue: DecodeIssue.TRUNCATED_SCTP },
      { protocol: IpProtocol.ICMP, ipVersion: 4, need: 2, issue: DecodeIssue.TRUNCATED_ICMP },
      { protocol: IpProtocol.ICMPV6, ipVersion: 6, need: 2, issue: DecodeIssue.TRUNCATED_ICMPV6 },
    ] as const;
    for (const { protocol, ipVersion, need, issue } of cases) {
      const frame = buildPacket({ ipVersion, protocol });
      const l4 = 14 + (ipVersion === 4 ? 20 : 40);
      assert.equal(decodeFrame(frame, LinkType.ETHERNET, l4 + need - 1, frame.length).issue, issue);
      assert.equal(decodeFrame(frame, LinkType.ETHERNET, l4 + need, frame.length).issue, null);
      assert.equal(decodeFrame(frame, LinkType.ETHERNET, l4, frame.length).issue, issue);
    }
  });
});
