/**
 * Micro-benchmark of decodePacket over a buffer of ~1M packets laid out like a PacketBatch.
 * Not a test: run `node dist/src/decode/decode.bench.js [packets]` after a build, or call
 * `benchmarkDecode` from the bench harness.
 */
import { pathToFileURL } from 'node:url';
import { LinkType } from '../capture/link-type.js';
import { buildPacket, createRandom, type PacketSpec } from './build-packet.js';
import { decodePacket } from './decode-packet.js';
import { DecodedPacket } from './decoded-packet.js';
import { IpProtocol } from './ip-protocol.js';
import { EtherType } from './link-layer.js';

/** Decode throughput of one packet mix. */
export interface DecodeBenchmarkResult {
  mix: string;
  packets: number;
  /** Packets decoded per second of this process's CPU time (best round). */
  packetsPerSecond: number;
  /** Packets that returned an issue code (non-IP frames in the mixed set). */
  issues: number;
}

/** Decodes `packets` packets of each mix `rounds` times and reports the best round's packets/s. */
export function benchmarkDecode(packets = 1_000_000, rounds = 5): DecodeBenchmarkResult[] {
  const mixes: [string, PacketSpec[]][] = [
    ['ethernet-ipv4-tcp', [{ ipVersion: 4, protocol: IpProtocol.TCP, payloadBytes: 20 }]],
    ['mixed', mixedSpecs()],
  ];
  return mixes.map(([mix, specs]) => run(mix, layOut(specs, packets), rounds));
}

interface Laid {
  data: Uint8Array;
  offset: Int32Array;
  caplen: Int32Array;
  wirelen: Int32Array;
  linkType: Int32Array;
}

function mixedSpecs(): PacketSpec[] {
  const vlan = [{ tpid: EtherType.VLAN, vid: 10 }];
  const qinq = [{ tpid: EtherType.QINQ, vid: 100 }, { tpid: EtherType.VLAN, vid: 10 }];
  return [
    { ipVersion: 4, protocol: IpProtocol.TCP, payloadBytes: 20 },
    { ipVersion: 4, protocol: IpProtocol.TCP, payloadBytes: 20 },
    { ipVersion: 4, protocol: IpProtocol.UDP, payloadBytes: 20 },
    { ipVersion: 6, protocol: IpProtocol.TCP, payloadBytes: 20 },
    { ipVersion: 6, protocol: IpProtocol.UDP, payloadBytes: 20 },
    { ipVersion: 4, protocol: IpProtocol.TCP, vlanTags: vlan },
    { ipVersion: 6, protocol: IpProtocol.UDP, vlanTags: qinq },
    { ipVersion: 4, protocol: IpProtocol.ICMP },
    { ipVersion: 6, protocol: IpProtocol.ICMPV6 },
    { ipVersion: 4, protocol: IpProtocol.ESP, payloadBytes: 40 },
    { ipVersion: 4, protocol: IpProtocol.TCP, ipv4OptionBytes: 8 },
    { ipVersion: 4, protocol: IpProtocol.UDP, ipv4Fragment: { offset: 0, more: true, id: 1 } },
    { ipVersion: 4, protocol: IpProtocol.UDP, ipv4Fragment: { offset: 1480, more: false, id: 1 }, omitTransportHeader: true },
    { ipVersion: 6, protocol: IpProtocol.TCP, ipv6Extensions: [{ type: 0 }, { type: 60, bytes: 16 }] },
    { ipVersion: 6, protocol: IpProtocol.UDP, ipv6Extensions: [{ type: 44, offset: 0, more: true, id: 9 }] },
    { ipVersion: 4, protocol: IpProtocol.TCP, linkType: LinkType.LINUX_SLL },
    { ipVersion: 6, protocol: IpProtocol.TCP, linkType: LinkType.LINUX_SLL2 },
    { ipVersion: 4, protocol: IpProtocol.UDP, linkType: LinkType.RAW },
    { ipVersion: 4, protocol: IpProtocol.TCP, linkType: LinkType.NULL },
    { ipVersion: 4, protocol: IpProtocol.TCP, etherType: 0x0806 }, // ARP-like: non_ip
  ];
}

/** Copies the frames of `specs` at random into one buffer, varying address and port bytes. */
function layOut(specs: PacketSpec[], packets: number): Laid {
  const random = createRandom(42);
  const frames = specs.map((spec) => ({ spec, bytes: buildPacket(spec) }));
  const probe = new DecodedPacket();
  const ipStart = frames.map(({ spec, bytes }) => {
    decodePacket(bytes, 0, bytes.length, bytes.length, spec.linkType ?? LinkType.ETHERNET, probe);
    return probe.ipOffset;
  });
  let totalBytes = 0;
  const choice = new Int32Array(packets);
  for (let i = 0; i < packets; i++) {
    choice[i] = Math.floor(random() * frames.length);
    totalBytes += frames[choice[i]].bytes.length;
  }
  const laid: Laid = {
    data: new Uint8Array(totalBytes),
    offset: new Int32Array(packets),
    caplen: new Int32Array(packets),
    wirelen: new Int32Array(packets),
    linkType: new Int32Array(packets),
  };
  let at = 0;
  for (let i = 0; i < packets; i++) {
    const { spec, bytes } = frames[choice[i]];
    laid.data.set(bytes, at);
    const ip = at + ipStart[choice[i]];
    // Vary the low source address byte so that the decoder sees different values.
    laid.data[ip + (spec.ipVersion === 4 ? 15 : 23)] = Math.floor(random() * 256);
    laid.offset[i] = at;
    laid.caplen[i] = bytes.length;
    laid.wirelen[i] = bytes.length;
    laid.linkType[i] = spec.linkType ?? LinkType.ETHERNET;
    at += bytes.length;
  }
  return laid;
}

function run(mix: string, laid: Laid, rounds: number): DecodeBenchmarkResult {
  const out = new DecodedPacket();
  const packets = laid.offset.length;
  let best = Infinity;
  let issues = 0;
  let checksum = 0;
  for (let round = 0; round < rounds; round++) {
    issues = 0;
    // CPU time of this process rather than wall time, so that a busy shared machine does not skew
    // the figure; the loop is single-threaded and allocates nothing, so the two agree when idle.
    const started = process.cpuUsage();
    for (let i = 0; i < packets; i++) {
      const issue = decodePacket(laid.data, laid.offset[i], laid.caplen[i], laid.wirelen[i], laid.linkType[i], out);
      if (issue !== null) issues++;
      else checksum += out.dstPort + out.srcAddr[0];
    }
    const used = process.cpuUsage(started);
    const seconds = (used.user + used.system) / 1e6;
    if (seconds < best) best = seconds;
  }
  if (checksum === -1) console.log(checksum); // keeps the loop's results observable
  return { mix, packets, packetsPerSecond: Math.round(packets / best), issues };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const packets = Number(process.argv[2] ?? 1_000_000);
  for (const result of benchmarkDecode(packets)) {
    const rate = (result.packetsPerSecond / 1e6).toFixed(1);
    console.log(`${result.mix}: ${rate} M packets/CPU-second (${result.packets} packets, ${result.issues} issues)`);
  }
}
