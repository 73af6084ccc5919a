import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkType } from '../capture/link-type.js';
import { buildPacket, decodeFrame } from './build-packet.js';
import { DecodeIssue } from './decode-issue.js';
import { IpProtocol } from './ip-protocol.js';
import { EtherType, MAX_VLAN_TAGS } from './link-layer.js';

const tcp4 = { ipVersion: 4, protocol: IpProtocol.TCP, srcPort: 1234, dstPort: 80 } as const;
const tcp6 = { ipVersion: 6, protocol: IpProtocol.TCP, srcPort: 1234, dstPort: 80 } as const;

describe('decodeLinkLayer', () => {
  const cases: { name: string; linkType: number; headerBytes: number; extra?: object }[] = [
    { name: 'Ethernet', linkType: LinkType.ETHERNET, headerBytes: 14 },
    { name: 'Linux cooked v1', linkType: LinkType.LINUX_SLL, headerBytes: 16 },
    { name: 'Linux cooked v2', linkType: LinkType.LINUX_SLL2, headerBytes: 20 },
    { name: 'raw (101)', linkType: LinkType.RAW, headerBytes: 0 },
    { name: 'raw (DLT 12)', linkType: 12, headerBytes: 0 },
    { name: 'raw (DLT 14, OpenBSD)', linkType: 14, headerBytes: 0 },
    { name: 'BSD null, little-endian family', linkType: LinkType.NULL, headerBytes: 4 },
    { name: 'BSD null, big-endian family', linkType: LinkType.NULL, headerBytes: 4, extra: { nullBigEndian: true } },
    { name: 'OpenBSD loop', linkType: LinkType.LOOP, headerBytes: 4 },
  ];
  for (const { name, linkType, headerBytes, extra } of cases) {
    it(`finds IPv4 and IPv6 behind ${name}`, () => {
      for (const spec of [tcp4, tcp6]) {
        const { issue, packet } = decodeFrame(buildPacket({ ...spec, ...extra, linkType }), linkType);
        assert.equal(issue, null);
        assert.equal(packet.ipVersion, spec.ipVersion);
        assert.equal(packet.ipOffset, headerBytes);
        assert.equal(packet.vlanId, -1);
        assert.equal(packet.dstPort, 80);
      }
    });
  }

  it('reads the interface index of a Linux cooked v2 header, and -1 for other links', () => {
    const frame = buildPacket({ ...tcp4, linkType: LinkType.LINUX_SLL2, sll2InterfaceIndex: 0x01020304 });
    assert.equal(decodeFrame(frame, LinkType.LINUX_SLL2).packet.linkInterfaceIndex, 0x01020304);
    assert.equal(decodeFrame(buildPacket({ ...tcp4, linkType: LinkType.LINUX_SLL }), LinkType.LINUX_SLL).packet.linkInterfaceIndex, -1);
    assert.equal(decodeFrame(buildPacket(tcp4), LinkType.ETHERNET).packet.linkInterfaceIndex, -1);
  });

  it('takes the version from the link type for LINKTYPE_IPV4 / LINKTYPE_IPV6', () => {
    assert.equal(decodeFrame(buildPacket(tcp4), LinkType.IPV4).packet.ipVersion, 4);
    assert.equal(decodeFrame(buildPacket(tcp6), LinkType.IPV6).packet.ipVersion, 6);
    assert.equal(decodeFrame(buildPacket(tcp6), LinkType.IPV4).issue, DecodeIssue.BAD_IP_VERSION);
    assert.equal(decodeFrame(buildPacket(tcp4), LinkType.IPV6).issue, DecodeIssue.BAD_IP_VERSION);
  });

  it('accepts every BSD AF_INET6 value under NULL and LOOP, in both byte orders', () => {
    for (const addressFamily of [24, 28, 30]) {
      for (const nullBigEndian of [false, true]) {
        const frame = buildPacket({ ...tcp6, linkType: LinkType.NULL, addressFamily, nullBigEndian });
        assert.equal(decodeFrame(frame, LinkType.NULL).packet.ipVersion, 6);
      }
      assert.equal(decodeFrame(buildPacket({ ...tcp6, linkType: LinkType.LOOP, addressFamily }), LinkType.LOOP).issue, null);
    }
  });

  it('reports other address families as non_ip', () => {
    const osi = buildPacket({ ...tcp4, linkType: LinkType.NULL, addressFamily: 7 });
    assert.equal(decodeFrame(osi, LinkType.NULL).issue, DecodeIssue.NON_IP);
    const linuxInet6 = buildPacket({ ...tcp6, linkType: LinkType.LOOP, addressFamily: 10 });
    assert.equal(decodeFrame(linuxInet6, LinkType.LOOP).issue, DecodeIssue.NON_IP);
  });

  it('records the outer VLAN id of 802.1Q, QinQ (0x88a8) and 0x9100 stacks', () => {
    const single = buildPacket({ ...tcp4, vlanTags: [{ tpid: EtherType.VLAN, vid: 100 }] });
    const one = decodeFrame(single);
    assert.equal(one.issue, null);
    assert.equal(one.packet.vlanId, 100);
    assert.equal(one.packet.ipOffset, 18);

    for (const outer of [EtherType.QINQ, EtherType.QINQ_LEGACY]) {
      const qinq = buildPacket({ ...tcp6, vlanTags: [{ tpid: outer, vid: 4000 }, { tpid: EtherType.VLAN, vid: 7 }] });
      const two = decodeFrame(qinq);
      assert.equal(two.issue, null);
      assert.equal(two.packet.vlanId, 4000);
      assert.equal(two.packet.ipOffset, 22);
      assert.equal(two.packet.dstPort, 80);
    }
  });

  it('ignores the PCP and DEI bits of the tag', () => {
    const frame = buildPacket({ ...tcp4, vlanTags: [{ tpid: EtherType.VLAN, vid: 0x123 }] });
    frame[14] |= 0xf0; // PCP 7, DEI 1
    assert.equal(decodeFrame(frame).packet.vlanId, 0x123);
  });

  it(`walks up to ${MAX_VLAN_TAGS} tags and reports deeper stacks`, () => {
    const tags = (n: number) => Array.from({ length: n }, (_, i) => ({ tpid: EtherType.VLAN, vid: i + 1 }));
    const deepest = decodeFrame(buildPacket({ ...tcp4, vlanTags: tags(MAX_VLAN_TAGS) }));
    assert.equal(deepest.issue, null);
    assert.equal(deepest.packet.vlanId, 1);
    assert.equal(decodeFrame(buildPacket({ ...tcp4, vlanTags: tags(MAX_VLAN_TAGS + 1) })).issue, DecodeIssue.TOO_MANY_VLAN_TAGS);
  });

  it('follows VLAN tags behind Linux cooked headers', () => {
    for (const linkType of [LinkType.LINUX_SLL, LinkType.LINUX_SLL2]) {
      const frame = buildPacket({ ...tcp4, linkType, vlanTags: [{ tpid: EtherType.VLAN, vid: 42 }] });
      const { issue, packet } = decodeFrame(frame, linkType);
      assert.equal(issue, null);
      assert.equal(packet.vlanId, 42);
    }
  });

  it('reports ARP, LLDP, 802.3 length frames and unknown cooked protocols as non_ip', () => {
    for (const etherType of [0x0806, 0x88cc, 0x05dc, 0x8847]) {
      assert.equal(decodeFrame(buildPacket({ ...tcp4, etherType })).issue, DecodeIssue.NON_IP);
      const tagged = buildPacket({ ...tcp4, etherType, vlanTags: [{ tpid: EtherType.VLAN, vid: 5 }] });
      assert.equal(decodeFrame(tagged).issue, DecodeIssue.NON_IP);
    }
    for (const linkType of [LinkType.LINUX_SLL, LinkType.LINUX_SLL2]) {
      assert.equal(decodeFrame(buildPacket({ ...tcp4, linkType, etherType: 0x0004 }), linkType).issue, DecodeIssue.NON_IP);
    }
  });

  it('reports link types it does not decode', () => {
    for (const linkType of [105, 127, 147, -1, 2 ** 31]) {
      assert.equal(decodeFrame(buildPacket({ ...tcp4, linkType }), linkType).issue, DecodeIssue.UNSUPPORTED_LINK_TYPE);
    }
  });

  it('reports a truncated link header per link type', () => {
    const cases: [number, number, string][] = [
      [LinkType.ETHERNET, 13, DecodeIssue.TRUNCATED_ETHERNET],
      [LinkType.LINUX_SLL, 15, DecodeIssue.TRUNCATED_LINUX_SLL],
      [LinkType.LINUX_SLL2, 19, DecodeIssue.TRUNCATED_LINUX_SLL2],
      [LinkType.NULL, 3, DecodeIssue.TRUNCATED_LOOPBACK],
      [LinkType.LOOP, 3, DecodeIssue.TRUNCATED_LOOPBACK],
      [LinkType.RAW, 0, DecodeIssue.TRUNCATED_IP],
      [LinkType.IPV4, 0, DecodeIssue.TRUNCATED_IPV4],
      [LinkType.IPV6, 0, DecodeIssue.TRUNCATED_IPV6],
    ];
    for (const [linkType, caplen, expected] of cases) {
      const frame = buildPacket({ ...tcp4, ipVersion: linkType === LinkType.IPV6 ? 6 : 4, linkType });
      assert.equal(decodeFrame(frame, linkType, caplen).issue, expected, `link type ${linkType}`);
    }
    const tagged = buildPacket({ ...tcp4, vlanTags: [{ tpid: EtherType.VLAN, vid: 5 }] });
    assert.equal(decodeFrame(tagged, LinkType.ETHERNET, 17).issue, DecodeIssue.TRUNCATED_VLAN);
  });

  it('reports a raw packet whose first nibble is neither 4 nor 6', () => {
    const frame = buildPacket({ ...tcp4, linkType: LinkType.RAW });
    frame[0] = 0x55;
    assert.equal(decodeFrame(frame, LinkType.RAW).issue, DecodeIssue.BAD_IP_VERSION);
  });

  it('reports an IPv6 header behind EtherType 0x0800 as bad_ip_version', () => {
    assert.equal(decodeFrame(buildPacket({ ...tcp6, etherType: 0x0800 })).issue, DecodeIssue.BAD_IP_VERSION);
  });
});
