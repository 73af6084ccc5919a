/**
 * Fuzz test of decodePacket: random bytes under every link type, and valid packets with mutated
 * bytes, lying length fields (IHL, Total Length, Payload Length, extension header lengths) and
 * caplen/wirelen chosen independently of them. Replay a failure with FUZZ_SEED=<seed>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkType } from '../capture/link-type.js';
import { buildPacket, createRandom, type Ipv6ExtensionSpec, type PacketSpec } from './build-packet.js';
import { DECODE_ISSUES } from './decode-issue.js';
import { decodePacket } from './decode-packet.js';
import { DecodedPacket } from './decoded-packet.js';
import { parseAddress } from './format-address.js';
import { IpProtocol } from './ip-protocol.js';
import { EtherType, MAX_VLAN_TAGS } from './link-layer.js';

const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
const RANDOM_CASES = 40_000;
const MUTATED_CASES = 80_000;
const TEMPLATES = 1_500;

const LINK_TYPES = [
  LinkType.ETHERNET,
  LinkType.LINUX_SLL,
  LinkType.LINUX_SLL2,
  LinkType.RAW,
  12,
  14,
  LinkType.IPV4,
  LinkType.IPV6,
  LinkType.NULL,
  LinkType.LOOP,
];
const KNOWN_ISSUES = new Set<string>(DECODE_ISSUES);
const BUFFER_BYTES = 4096;
/** Bytes around each packet that are randomized, then changed, to catch reads outside caplen. */
const MARGIN = 64;

describe(`decodePacket fuzz (FUZZ_SEED=${seed})`, () => {
  const random = createRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const buffer = new Uint8Array(BUFFER_BYTES);
  const out = new DecodedPacket();
  const again = new DecodedPacket();
  /** Where check() last placed its packet in `buffer`. */
  let lastOffset = 0;

  /** Decodes `bytes` placed at a random offset amid random bytes, twice with different surroundings. */
  function check(bytes: Uint8Array, caplen: number, wirelen: number, linkType: number, label: string): string | null {
    // Random bytes right before and after the packet (further ones cannot be reached by accident).
    const offset = MARGIN + int(BUFFER_BYTES - bytes.length - 2 * MARGIN);
    lastOffset = offset;
    for (let i = offset - MARGIN; i < offset + bytes.length + MARGIN; i++) buffer[i] = int(256);
    buffer.set(bytes.subarray(0, caplen), offset);
    let issue: string | null;
    try {
      issue = decodePacket(buffer, offset, caplen, wirelen, linkType, out);
    } catch (error) {
      assert.fail(`${label}: threw ${String(error)} (FUZZ_SEED=${seed}, link ${linkType}, caplen ${caplen}, wirelen ${wirelen}, bytes ${hex(bytes)})`);
    }
    const context = () =>
      `${label} (FUZZ_SEED=${seed}, link ${linkType}, caplen ${caplen}, wirelen ${wirelen}, issue ${issue}, bytes ${hex(bytes.subarray(0, caplen))}, out ${JSON.stringify(out)})`;
    if (issue !== null) {
      assert.ok(KNOWN_ISSUES.has(issue), `unknown issue: ${context()}`);
    } else {
      assertInRange(offset, caplen, wirelen, context);
    }
    // The bytes outside [offset, offset + caplen) must not matter: change them and decode again.
    for (let i = offset - MARGIN; i < offset; i++) buffer[i] ^= 0x5a;
    for (let i = offset + caplen; i < offset + bytes.length + MARGIN; i++) buffer[i] ^= 0xa5;
    const issueAgain = decodePacket(buffer, offset, caplen, wirelen, linkType, again);
    assert.equal(issueAgain, issue, `read outside caplen: ${context()}`);
    if (issue === null) {
      assert.deepEqual(snapshot(again), snapshot(out), `read outside caplen: ${context()}`);
      // Nor may the bytes after the IP packet (link padding) within caplen.
      const ipEnd = out.ipOffset + out.ipBytes;
      if (ipEnd < offset + caplen) {
        for (let i = ipEnd; i < offset + caplen; i++) buffer[i] ^= 0xff;
        assert.equal(decodePacket(buffer, offset, caplen, wirelen, linkType, again), null, `read link padding: ${context()}`);
        assert.deepEqual(snapshot(again), snapshot(out), `read link padding: ${context()}`);
      }
    }
    return issue;
  }

  function assertInRange(offset: number, caplen: number, wirelen: number, context: () => string): void {
    const ok = (condition: boolean, what: string) => assert.ok(condition, `${what}: ${context()}`);
    ok(out.ipVersion === 4 || out.ipVersion === 6, 'ipVersion');
    const minHeader = out.ipVersion === 4 ? 20 : 40;
    ok(Number.isInteger(out.ipOffset) && out.ipOffset >= offset, 'ipOffset before the packet');
    ok(out.ipOffset + minHeader <= offset + caplen, 'IP header beyond caplen');
    ok(Number.isInteger(out.ipBytes) && out.ipBytes >= minHeader, 'ipBytes too small');
    ok(out.ipBytes <= Math.max(caplen, wirelen) - (out.ipOffset - offset), 'ipBytes beyond the wire');
    ok(isUint(out.protocol, 255), 'protocol');
    ok(isUint(out.srcPort, 0xffff) && isUint(out.dstPort, 0xffff), 'ports');
    ok(isUint(out.tcpFlags, 255), 'tcpFlags');
    ok(out.protocol === IpProtocol.TCP || out.tcpFlags === 0, 'tcpFlags on a non-TCP packet');
    ok(out.protocol !== IpProtocol.ICMP && out.protocol !== IpProtocol.ICMPV6 ? true : out.srcPort === 0, 'ICMP srcPort');
    ok(out.vlanId === -1 || isUint(out.vlanId, 4095), 'vlanId');
    ok(isUint(out.fragmentOffset, 65528) && out.fragmentOffset % 8 === 0, 'fragmentOffset');
    ok(isUint(out.fragmentId, 0xffffffff), 'fragmentId');
    if (out.fragmentOffset !== 0) ok(out.isFragment && out.srcPort === 0 && out.dstPort === 0, 'non-first fragment with ports');
    if (out.moreFragments) ok(out.isFragment, 'MF without isFragment');
    if (out.ipVersion === 4) {
      ok(out.isFragment === (out.moreFragments || out.fragmentOffset !== 0), 'IPv4 isFragment');
      ok(out.ipBytes <= 65535 || (buffer[out.ipOffset + 2] | buffer[out.ipOffset + 3]) === 0, 'IPv4 ipBytes > 65535 without TSO');
      for (let w = 1; w < 4; w++) ok(out.srcAddr[w] === 0 && out.dstAddr[w] === 0, 'IPv4 address words 1-3');
    } else {
      ok(out.ipBytes <= 65575 || (buffer[out.ipOffset + 4] | buffer[out.ipOffset + 5]) === 0, 'IPv6 ipBytes > 65575 without jumbo');
    }
  }

  /** A random well-formed packet description, and what decoding it must give. */
  function randomSpec(): PacketSpec {
    const ipVersion = random() < 0.5 ? 4 : 6;
    const linkType = pick(LINK_TYPES.filter((t) => (ipVersion === 4 ? t !== LinkType.IPV6 : t !== LinkType.IPV4)));
    const extensionTypes = new Set<number>([0, 43, 44, 51, 60]);
    let protocol = pick([6, 6, 6, 17, 17, 132, ipVersion === 4 ? 1 : 58, 47, 50, 59, int(256)]);
    if (ipVersion === 6 && extensionTypes.has(protocol)) protocol = IpProtocol.UDP;
    if (ipVersion === 4 && protocol === 59) protocol = IpProtocol.TCP;
    const spec: PacketSpec = {
      linkType,
      ipVersion,
      protocol,
      srcPort: int(65536),
      dstPort: int(65536),
      tcpFlags: int(256),
      icmpType: int(256),
      icmpCode: int(256),
      src: ipVersion === 4 ? `${int(256)}.${int(256)}.${int(256)}.${int(256)}` : randomIpv6(),
      dst: ipVersion === 4 ? `${int(256)}.${int(256)}.${int(256)}.${int(256)}` : randomIpv6(),
      payloadBytes: random() < 0.5 ? 0 : int(64),
      trailerBytes: random() < 0.8 ? 0 : int(12),
    };
    if (linkType === LinkType.ETHERNET || linkType === LinkType.LINUX_SLL || linkType === LinkType.LINUX_SLL2) {
      const tagCount = random() < 0.6 ? 0 : int(MAX_VLAN_TAGS + 2);
      spec.vlanTags = Array.from({ length: tagCount }, () => ({
        tpid: pick([EtherType.VLAN, EtherType.QINQ, EtherType.QINQ_LEGACY]),
        vid: int(4096),
      }));
    }
    if (linkType === LinkType.NULL || linkType === LinkType.LOOP) {
      spec.nullBigEndian = random() < 0.5;
      spec.addressFamily = ipVersion === 4 ? 2 : pick([24, 28, 30]);
    }
    if (ipVersion === 4) {
      if (random() < 0.3) spec.ipv4OptionBytes = 4 * int(11);
      if (random() < 0.3) {
        const offset = random() < 0.5 ? 0 : 8 * (1 + int(8190));
        spec.ipv4Fragment = { offset, more: random() < 0.5, id: int(65536) };
        if (offset !== 0) spec.omitTransportHeader = true;
      }
    } else if (random() < 0.5) {
      const extensions: Ipv6ExtensionSpec[] = [];
      const count = 1 + int(random() < 0.9 ? 5 : 18);
      for (let i = 0; i < count; i++) {
        const type = pick([0, 43, 60, 51, 44] as const);
        if (type === 44) {
          const offset = random() < 0.5 ? 0 : 8 * (1 + int(8190));
          extensions.push({ type, offset, more: random() < 0.5, id: int(2 ** 32) });
          if (offset !== 0) spec.omitTransportHeader = true;
        } else if (type === 51) {
          extensions.push({ type, bytes: 12 + 4 * int(8) });
        } else {
          extensions.push({ type, bytes: 8 * (1 + int(4)) });
        }
      }
      spec.ipv6Extensions = extensions;
    }
    // An empty IPv6 payload is read as a jumbogram/LSO packet unless Next Header is 59 (see ipv6.ts),
    // so a well-formed template with a header-less protocol carries at least one payload byte.
    const headerless = ![6, 17, 132, 1, 58, 47, 50, 59].includes(protocol);
    if (ipVersion === 6 && spec.ipv6Extensions === undefined && headerless && spec.payloadBytes === 0) spec.payloadBytes = 1;
    return spec;
  }

  function randomIpv6(): string {
    return Array.from({ length: 8 }, () => (random() < 0.4 ? 0 : int(65536)).toString(16)).join(':');
  }

  /** Checks a well-formed, fully captured packet decodes to what its description says. */
  function assertMatchesSpec(spec: PacketSpec, bytes: Uint8Array, label: string): void {
    const issue = check(bytes, bytes.length, bytes.length, spec.linkType!, label);
    const extensions = spec.ipv6Extensions ?? [];
    if ((spec.vlanTags?.length ?? 0) > MAX_VLAN_TAGS) return assert.equal(issue, 'too_many_vlan_tags', label);
    // The walk stops at the first non-first fragment, so only the headers up to it count.
    const laterFragment = extensions.findIndex((e) => e.type === 44 && e.offset !== 0);
    const walked = laterFragment >= 0 ? laterFragment + 1 : extensions.length;
    if (walked > 16) return assert.equal(issue, 'too_many_ipv6_extensions', label);
    assert.equal(issue, null, `${label}: ${JSON.stringify(spec)}`);
    assert.equal(out.ipVersion, spec.ipVersion, label);
    assert.deepEqual([...out.srcAddr], [...parseAddress(spec.src!)!.words], label);
    assert.deepEqual([...out.dstAddr], [...parseAddress(spec.dst!)!.words], label);
    assert.equal(out.vlanId, spec.vlanTags?.length ? spec.vlanTags[0].vid : -1, label);
    assert.equal(out.ipOffset - lastOffset, linkHeaderBytes(spec), label);
    assert.equal(out.ipBytes, bytes.length - (spec.trailerBytes ?? 0) - linkHeaderBytes(spec), label);
    let protocol = spec.protocol;
    if (laterFragment >= 0) protocol = laterFragment + 1 < extensions.length ? extensions[laterFragment + 1].type : spec.protocol;
    assert.equal(out.protocol, protocol, label);
    const v4Fragment = spec.ipv4Fragment;
    const fragmented =
      v4Fragment !== undefined
        ? v4Fragment.more || v4Fragment.offset !== 0
        : extensions.slice(0, walked).some((e) => e.type === 44);
    assert.equal(out.isFragment, fragmented, label);
    let srcPort = 0;
    let dstPort = 0;
    if (!spec.omitTransportHeader) {
      if (protocol === IpProtocol.TCP || protocol === IpProtocol.UDP || protocol === IpProtocol.SCTP) {
        srcPort = spec.srcPort!;
        dstPort = spec.dstPort!;
      } else if (protocol === IpProtocol.ICMP || protocol === IpProtocol.ICMPV6) {
        dstPort = spec.icmpType! * 256 + spec.icmpCode!;
      }
    }
    assert.equal(out.srcPort, srcPort, label);
    assert.equal(out.dstPort, dstPort, label);
    assert.equal(out.tcpFlags, protocol === IpProtocol.TCP && !spec.omitTransportHeader ? spec.tcpFlags : 0, label);
  }

  it('survives random bytes under every link type', () => {
    let decoded = 0;
    const bytes = new Uint8Array(160);
    for (let i = 0; i < RANDOM_CASES; i++) {
      const length = int(bytes.length + 1);
      for (let j = 0; j < length; j++) bytes[j] = int(256);
      // Make the random bytes more likely to get past the link layer.
      if (random() < 0.5 && length > 0) bytes[0] = (pick([4, 6]) << 4) | int(16);
      if (random() < 0.3 && length > 14) bytes[12] = pick([0x08, 0x86, 0x81, 0x88]);
      const linkType = random() < 0.95 ? pick(LINK_TYPES) : int(300);
      const caplen = length;
      const wirelen = random() < 0.7 ? caplen : int(70000);
      if (check(bytes.subarray(0, length), caplen, wirelen, linkType, `random case ${i}`) === null) decoded++;
    }
    assert.ok(decoded > 0, 'some random packets decode');
  });

  it('survives mutated valid packets, lying length fields and any caplen/wirelen', () => {
    const templates: { spec: PacketSpec; bytes: Uint8Array; ipStart: number }[] = [];
    for (let i = 0; i < TEMPLATES; i++) {
      const spec = randomSpec();
      const bytes = buildPacket(spec);
      assertMatchesSpec(spec, bytes, `template ${i}`);
      templates.push({ spec, bytes, ipStart: linkHeaderBytes(spec) });
    }
    let decoded = 0;
    for (let i = 0; i < MUTATED_CASES; i++) {
      const { spec, bytes: template, ipStart } = pick(templates);
      const bytes = template.slice();
      const ip = ipStart;
      const mutations = 1 + int(3);
      for (let m = 0; m < mutations; m++) {
        const kind = int(9);
        if (kind === 0 && bytes.length > 0) {
          bytes[int(bytes.length)] = int(256); // any byte
        } else if (kind === 1 && ip < bytes.length) {
          bytes[ip] = (bytes[ip] & 0xf0) | int(16); // IHL (IPv4) / traffic class bits (IPv6)
        } else if (kind === 2 && ip + 3 < bytes.length) {
          // IPv4 Total Length / IPv6 Payload Length: a lie, near the truth or anywhere
          const at = spec.ipVersion === 4 ? ip + 2 : ip + 4;
          const truth = (bytes[at] << 8) | bytes[at + 1];
          const lie = random() < 0.5 ? truth + int(41) - 20 : random() < 0.2 ? 0 : int(65536);
          bytes[at] = (lie >> 8) & 0xff;
          bytes[at + 1] = lie & 0xff;
        } else if (kind === 3 && spec.ipVersion === 6 && ip + 41 < bytes.length) {
          // An extension header length byte (or whatever sits where one would)
          const at = ip + 40 + 8 * int(6) + 1;
          if (at < bytes.length) bytes[at] = random() < 0.5 ? int(256) : int(4);
        } else if (kind === 4 && ip + 9 < bytes.length) {
          // Protocol / Next Header: make the walk take another path
          const at = spec.ipVersion === 4 ? ip + 9 : ip + 6;
          bytes[at] = pick([0, 1, 6, 17, 43, 44, 50, 51, 58, 59, 60, 132, int(256)]);
        } else if (kind === 5 && ip + 7 < bytes.length && spec.ipVersion === 4) {
          bytes[ip + 6] = int(256); // flags + fragment offset
          bytes[ip + 7] = int(256);
        } else if (kind === 6 && ip >= 2) {
          // The EtherType / VLAN TPID just before the IP header, or the version nibble
          const at = ip - 2 - 4 * int(2);
          const value = pick([0x0800, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x0806, int(65536)]);
          if (at >= 0) {
            bytes[at] = value >> 8;
            bytes[at + 1] = value & 0xff;
          }
        } else if (kind === 7 && ip < bytes.length) {
          bytes[ip] = (int(16) << 4) | (bytes[ip] & 0x0f);
        }
      }
      const caplenChoice = random();
      const caplen = caplenChoice < 0.4 ? bytes.length : caplenChoice < 0.8 ? int(bytes.length + 1) : Math.min(bytes.length, ip + int(80));
      const wirelenChoice = random();
      const wirelen =
        wirelenChoice < 0.5 ? bytes.length : wirelenChoice < 0.7 ? caplen : wirelenChoice < 0.9 ? caplen + int(100_000) : int(caplen + 1);
      const linkType = random() < 0.97 ? spec.linkType! : pick(LINK_TYPES);
      if (check(bytes, caplen, wirelen, linkType, `mutated case ${i}`) === null) decoded++;
    }
    assert.ok(decoded > MUTATED_CASES / 10, `a fair share of mutated packets decode (${decoded})`);
  });

  function linkHeaderBytes(spec: PacketSpec): number {
    const tags = 4 * (spec.vlanTags?.length ?? 0);
    switch (spec.linkType) {
      case LinkType.ETHERNET:
        return 14 + tags;
      case LinkType.LINUX_SLL:
        return 16 + tags;
      case LinkType.LINUX_SLL2:
        return 20 + tags;
      case LinkType.NULL:
      case LinkType.LOOP:
        return 4;
      default:
        return 0;
    }
  }
});

/** The decoded fields as a plain object, for deepEqual. */
function snapshot(packet: DecodedPacket): object {
  return { ...packet, srcAddr: [...packet.srcAddr], dstAddr: [...packet.dstAddr] };
}

function isUint(value: number, max: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= max;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
