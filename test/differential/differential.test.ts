/**
 * Differential test: endsight against two independent flow meters, nfpcapd (nfdump 1.7.1) and
 * softflowd 1.1.0, on real traffic captured in network namespaces (traffic-lab.ts).
 *
 * Needs root (namespaces, veth, tcpdump) and the Debian packages tcpdump, softflowd, nfdump, iperf3,
 * iproute2, ethtool, curl, python3, dnsutils, iputils-ping, procps. Runs in about 12-16 s.
 * Set ENDSIGHT_DIFF_KEEP=1 to keep the captures and the peers' output (the path is printed).
 *
 * What is compared, and why each adjustment is principled (peers.ts has the peers' verified behaviour):
 *
 * 1. Per 5-tuple packets, bytes and TCP flags: endsight == nfpcapd and endsight == softflowd, exactly.
 *    The peers read a copy of the capture in which QinQ frames keep only their inner tag (softflowd
 *    parses one tag, nfpcapd no 0x88a8); the IP packets are untouched. Then, for exactly the packets
 *    a peer is documented to count elsewhere, its counts are moved to where a per-packet NetFlow meter
 *    that follows fragments to their datagram puts them (endsight's documented model,
 *    src/flow/fragment-table.ts): IP fragments and IPv6 packets with extension headers (MLD reports
 *    carry Hop-by-Hop). The packets are found by an independent scanner (frame-scan.ts), every move is
 *    counted, and the counts are asserted against what the lab's programs must have produced. If a
 *    peer had not counted a packet where documented, the adjustment itself fails.
 *    As a self-check of the harness, the two adjusted peers must agree with each other exactly.
 * 2. Records one for one with nfpcapd (5-tuple, start/end within 1 ms, packets, bytes, flags), except
 *    the tuples touched by the adjustments above (their records are reassembled or split differently
 *    by construction), after two joins:
 *    - nfpcapd writes one record per packet for ICMP/ICMPv6 and for UDP port 53 (verified): those are
 *      joined per tuple (checked: no gap above the idle timeout, no span above the active timeout);
 *    - endsight keeps a TCP record open for a FIN timeout (5 s) after FIN or RST, so the closing side's
 *      last ACK stays in it, and ends it (end_reason fin/rst) at the tuple's next SYN or once the
 *      tuple is quiet for longer than the FIN timeout (src/flow/flow-table.ts). nfpcapd ends no record
 *      at FIN/RST (verified with crafted packets: packets 5 s and 30 s after a FIN or RST stay in its
 *      record). So the only records endsight splits where nfpcapd does not are those with such a late
 *      packet or new SYN; they are joined, and their number must be exactly what the capture holds
 *      (counted from its packets by expectedTcpCloseSplits). The lab sends nothing of the kind on
 *      purpose (every close is followed only by its last ACK within milliseconds), so that is 0.
 *    softflowd's record times are those of its bidirectional flow and it applies no timeout to a
 *    file, so only its totals are compared.
 * 3. Linux cooked captures (`tcpdump -i any` in B, which writes LINUX_SLL2 here, and `-y LINUX_SLL`):
 *    endsight on cooked v2 == endsight on cooked v1 == nfpcapd/softflowd on cooked v1 (neither peer
 *    reads cooked v2) == endsight on the Ethernet capture, per 5-tuple.
 * 4. The capture holds every kind of traffic the comparison is about, so it cannot pass vacuously;
 * 5. and the comparison is shown to catch typical metering bugs (mutations of endsight's records).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runEndsight, type EndsightResult } from './endsight-meter.js';
import { fragmentedDatagrams, scanCapture, datagramIndex, datagramTuple, type CaptureScan, type ScannedPacket } from './frame-scan.js';
import {
  adjustPeerTotals,
  compareRecords,
  diffTotals,
  formatTotalsDiff,
  expectedTcpCloseSplits,
  joinEndsightTcpCloseSplits,
  joinNfpcapdPerPacketRecords,
  type AdjustedTotals,
} from './flow-compare.js';
import { canonicalAddress, totalsByTuple, tupleKey, type MeterFlow, type TupleTotals } from './meter-flow.js';
import { isRoot, requirePrograms } from '../../src/lab/netns.js';
import { readPcap, reduceToSingleVlanTag, writePcap } from './pcap-file.js';
import { PEER_PROGRAMS, peerVersions, runNfpcapd, runSoftflowd, type PeerResult } from './peers.js';
import { LAB_ADDRESSES, LAB_PROGRAMS, runTrafficLab, type TrafficLabResult } from './traffic-lab.js';

const IDLE_TIMEOUT_S = 90;
/** endsight's FIN timeout: `import --fin-timeout`, default 5 s (src/flow/flow-table.ts), which runEndsight does not change. */
const FIN_TIMEOUT_S = 5;
/**
 * TCP packets the lab sends on purpose more than the FIN timeout after a FIN or RST of their tuple, or
 * a new SYN on a closed tuple (traffic-lab.ts): none.
 */
const LAB_LATE_PACKETS_AFTER_CLOSE = 0;
const ACTIVE_TIMEOUT_S = 1800;
const timeouts = { idleTimeoutS: IDLE_TIMEOUT_S, activeTimeoutS: ACTIVE_TIMEOUT_S };

/**
 * Fragmented datagrams the lab's programs send, and how many fragments each has on a 1500-byte MTU:
 * ping -s 3000 (3 echo requests + 3 replies, 3 fragments each), ping -s 2000 over the VLAN and QinQ
 * (2 + 2, 2 fragments each), and the 3 kB DNS TXT answer (3 fragments), once in IPv4 and once in IPv6.
 */
const EXPECTED_FRAGMENTED = {
  v4: { datagrams: 6 + 4 + 1, fragments: 6 * 3 + 4 * 2 + 3 },
  v6: { datagrams: 6 + 4 + 1, fragments: 6 * 3 + 4 * 2 + 3 },
};

interface Side<T> {
  value?: T;
  error?: unknown;
}

async function attempt<T>(f: () => Promise<T>): Promise<Side<T>> {
  try {
    return { value: await f() };
  } catch (error) {
    return { error };
  }
}

function need<T>(side: Side<T> | undefined, what: string): T {
  if (!side) throw new Error(`${what}: the lab did not run`);
  if (side.error !== undefined) {
    const e = side.error;
    throw e instanceof Error ? Object.assign(new Error(`${what} failed: ${e.message}`), { cause: e }) : new Error(`${what} failed: ${String(e)}`);
  }
  return side.value as T;
}

function assertSameTotals(a: Map<string, TupleTotals>, b: Map<string, TupleTotals>, aName: string, bName: string): void {
  const diffs = diffTotals(a, b);
  if (diffs.length > 0) {
    assert.fail(`${diffs.length} of ${new Set([...a.keys(), ...b.keys()]).size} 5-tuples differ between ${aName} and ${bName}:\n${formatTotalsDiff(diffs, aName, bName)}`);
  }
}

describe('differential: endsight vs nfpcapd and softflowd on real traffic', { timeout: 600_000 }, () => {
  let workDir = '';
  let lab: TrafficLabResult;
  let ethernetScan: CaptureScan;
  let cookedV1Scan: CaptureScan;
  let qinqFramesRewritten = 0;
  const peers: Partial<Record<'nfpcapdEth' | 'softflowdEth' | 'nfpcapdSll1' | 'softflowdSll1', Side<PeerResult>>> = {};
  const endsight: Partial<Record<'eth' | 'sll2' | 'sll1', Side<EndsightResult>>> = {};
  const started = Date.now();
  const timings: string[] = [];

  before(async () => {
    if (!isRoot()) {
      throw new Error('The differential test needs root (network namespaces, veth pairs, tcpdump): run it as root (e.g. `sudo npm test`).');
    }
    requirePrograms({ ...LAB_PROGRAMS, ...PEER_PROGRAMS });
    workDir = await mkdtemp(join(tmpdir(), 'es-diff-'));
    let t = Date.now();
    lab = await runTrafficLab({ workDir: join(workDir, 'lab') });
    timings.push(`lab ${Date.now() - t} ms`);

    // Peers read the Ethernet capture with QinQ stacks reduced to their inner tag (see pcap-file.ts).
    const ethernet = await readPcap(lab.ethernetPcap);
    const reduced = reduceToSingleVlanTag(ethernet);
    qinqFramesRewritten = reduced.rewritten;
    const peerEthernet = join(workDir, 'ethernet-single-tag.pcap');
    await writePcap(peerEthernet, reduced.file);
    ethernetScan = scanCapture(ethernet);
    cookedV1Scan = scanCapture(await readPcap(lab.cookedV1Pcap));

    // The meters are independent processes reading files: run them all at once.
    const timed = async <T>(name: string, f: () => Promise<T>): Promise<Side<T>> => {
      const t0 = Date.now();
      const result = await attempt(f);
      timings.push(`${name} ${Date.now() - t0} ms`);
      return result;
    };
    const outDir = (name: string) => ({ ...timeouts, outDir: join(workDir, name) });
    const dataDir = (name: string) => ({ ...timeouts, dataDir: join(workDir, name) });
    t = Date.now();
    [peers.nfpcapdEth, peers.softflowdEth, peers.nfpcapdSll1, peers.softflowdSll1, endsight.eth, endsight.sll2, endsight.sll1] = await Promise.all([
      timed('nfpcapd eth', () => runNfpcapd(peerEthernet, outDir('nfpcapd-eth'))),
      timed('softflowd eth', () => runSoftflowd(peerEthernet, outDir('softflowd-eth'))),
      timed('nfpcapd sll1', () => runNfpcapd(lab.cookedV1Pcap, outDir('nfpcapd-sll1'))),
      timed('softflowd sll1', () => runSoftflowd(lab.cookedV1Pcap, outDir('softflowd-sll1'))),
      timed('endsight eth', () => runEndsight(lab.ethernetPcap, dataDir('endsight-eth'))),
      timed('endsight sll2', () => runEndsight(lab.cookedDefaultPcap, dataDir('endsight-sll2'))),
      timed('endsight sll1', () => runEndsight(lab.cookedV1Pcap, dataDir('endsight-sll1'))),
    ]);
    timings.push(`meters ${Date.now() - t} ms`);
  });

  after(async () => {
    const versions = await peerVersions().catch(() => ({}));
    const line = `differential: ${Date.now() - started} ms (${timings.join(', ')}); versions ${JSON.stringify(versions)}`;
    console.log(line);
    if (!workDir) return;
    if (process.env.ENDSIGHT_DIFF_KEEP) console.log(`differential: captures and outputs kept in ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  });

  it('captures every packet at every capture point', () => {
    for (const [name, s] of Object.entries(lab.captureStats)) {
      assert.equal(s.droppedByKernel, 0, `tcpdump ${name} dropped ${s.droppedByKernel} packets`);
      assert.equal(s.captured, s.receivedByFilter, `tcpdump ${name} wrote ${s.captured} of ${s.receivedByFilter} packets`);
    }
    assert.equal(lab.captureStats.ab.linkTypeName, 'EN10MB');
    assert.equal(lab.captureStats.anyV1.linkTypeName, 'LINUX_SLL');
    assert.match(lab.captureStats.anyDefault.linkTypeName, /^LINUX_SLL2?$/);
    // B's `any` captures see both of B's links: the same packets as the two Ethernet capture points.
    assert.equal(lab.captureStats.anyDefault.captured, lab.captureStats.ab.captured + lab.captureStats.trunk.captured);
    assert.equal(lab.captureStats.anyV1.captured, lab.captureStats.anyDefault.captured);
    assert.equal(lab.forwarder.sendErrors, 0);
    assert.ok(lab.forwarder.vlan > 0 && lab.forwarder.qinq > 0, `forwarder tagged ${JSON.stringify(lab.forwarder)}`);
  });

  it('contains TCP, UDP, ICMP in IPv4 and IPv6, fragments, 802.1Q, QinQ and DNS', () => {
    const index = datagramIndex(fragmentedDatagrams(ethernetScan));
    const kinds = new Map<string, Set<string>>();
    const add = (kind: string, key: string) => kinds.set(kind, (kinds.get(kind) ?? new Set()).add(key));
    for (const p of ethernetScan.packets) {
      const tuple = datagramTuple(p, index.get(p));
      const key = tupleKey(tuple);
      const v = `v${p.ipVersion}`;
      if (p.protocol === 6) add(`TCP ${v}`, key);
      if (p.protocol === 17) add(`UDP ${v}`, key);
      if (p.protocol === 1 || p.protocol === 58) add(`ICMP ${v}`, key);
      if (p.fragment) add(`fragments ${v}`, key);
      if (p.vlanTpids.length === 1 && p.vlanTpids[0] === 0x8100) add('802.1Q', key);
      if (p.vlanTpids.length === 2 && p.vlanTpids[0] === 0x88a8) add('QinQ 802.1ad', key);
      if ((tuple.srcPort === 53 || tuple.dstPort === 53) && p.protocol === 17) add(`DNS UDP ${v}`, key);
      if ((tuple.srcPort === 53 || tuple.dstPort === 53) && p.protocol === 6) add('DNS TCP', key);
      if (p.protocol === 58 && tuple.dstPort >> 8 === 143) add('MLDv2 (Hop-by-Hop)', key);
      if (p.protocol === 6 && (p.tcpFlags & 0x04) !== 0) add(`TCP RST ${v}`, key);
      if ((p.protocol === 1 && tuple.dstPort === 0x0303) || (p.protocol === 58 && tuple.dstPort === 0x0104)) add(`ICMP port unreachable ${v}`, key);
    }
    const expected = [
      'TCP v4', 'TCP v6', 'UDP v4', 'UDP v6', 'ICMP v4', 'ICMP v6', 'fragments v4', 'fragments v6',
      '802.1Q', 'QinQ 802.1ad', 'DNS UDP v4', 'DNS UDP v6', 'DNS TCP', 'MLDv2 (Hop-by-Hop)',
      'TCP RST v4', 'TCP RST v6', 'ICMP port unreachable v4', 'ICMP port unreachable v6',
    ];
    const missing = expected.filter((k) => !kinds.get(k)?.size);
    assert.deepEqual(missing, [], `capture lacks ${missing.join(', ')}`);
    // Tagged traffic: all of C's traffic crosses the trunk tagged, by C's address.
    for (const p of ethernetScan.packets) {
      const addresses = [p.srcAddr, p.dstAddr];
      if (addresses.includes(LAB_ADDRESSES.cQinq4) || addresses.includes(LAB_ADDRESSES.cQinq6)) {
        assert.deepEqual(p.vlanTpids, [0x88a8, 0x8100], `packet #${p.index} of C's QinQ address is not QinQ-tagged`);
      } else if (addresses.includes(LAB_ADDRESSES.cVlan4) || addresses.includes(LAB_ADDRESSES.cVlan6)) {
        assert.deepEqual(p.vlanTpids, [0x8100], `packet #${p.index} of C's VLAN address is not 802.1Q-tagged`);
      }
    }
    assert.ok(qinqFramesRewritten > 0 && qinqFramesRewritten === lab.forwarder.qinq, `QinQ frames rewritten for the peers: ${qinqFramesRewritten}, forwarder tagged ${lab.forwarder.qinq}`);
    // If endsight ran, it must have a flow for every kind.
    const es = endsight.eth?.value;
    if (es) {
      const have = totalsByTuple(es.flows);
      for (const [kind, keys] of kinds) {
        assert.ok([...keys].some((k) => have.has(k)), `endsight has no flow of kind ${kind} (e.g. ${[...keys][0]})`);
      }
    }
  });

  it('fragments and extension headers are exactly what the lab sent', () => {
    for (const scan of [ethernetScan, cookedV1Scan]) {
      const datagrams = fragmentedDatagrams(scan);
      for (const v of [4, 6] as const) {
        const mine = datagrams.filter((d) => d.fragments[0].ipVersion === v);
        assert.deepEqual(
          { datagrams: mine.length, fragments: mine.reduce((n, d) => n + d.fragments.length, 0) },
          EXPECTED_FRAGMENTED[`v${v}`],
          `IPv${v} fragmented datagrams`,
        );
        assert.ok(mine.every((d) => d.complete && d.first), `an IPv${v} datagram is incomplete`);
      }
      // The only IPv6 extension headers besides Fragment: Hop-by-Hop in MLDv2 reports to ff02::16.
      const others = scan.packets.filter((p) => p.hasExtensionHeaders && p.firstNextHeader !== 44);
      for (const p of others) {
        assert.equal(p.firstNextHeader, 0, `packet #${p.index}: unexpected IPv6 extension header ${p.firstNextHeader}`);
        assert.equal(p.dstAddr, 'ff02::16');
        assert.equal(p.protocol, 58);
        assert.equal(p.dstPort, 143 << 8, `packet #${p.index}: Hop-by-Hop packet that is not an MLDv2 report`);
      }
      assert.ok(others.length > 0 && others.length <= 60, `MLD reports: ${others.length}`);
    }
  });

  /** Adjusted totals of a peer, with the moves asserted to be exactly the lab's special packets. */
  function adjusted(which: 'nfpcapdEth' | 'softflowdEth' | 'nfpcapdSll1' | 'softflowdSll1'): AdjustedTotals {
    const result = need(peers[which], which);
    const scan = which.endsWith('Eth') ? ethernetScan : cookedV1Scan;
    const model = which.startsWith('nfpcapd') ? 'nfpcapd' : 'softflowd';
    const a = adjustPeerTotals(model, result.flows, scan);
    const mld = scan.packets.filter((p) => p.hasExtensionHeaders && p.firstNextHeader === 0).length;
    const expectedMoves =
      model === 'nfpcapd'
        ? {
            'nfpcapd: IPv4 fragments reassembled': EXPECTED_FRAGMENTED.v4.datagrams,
            'nfpcapd: IPv6 fragments as protocol 44': EXPECTED_FRAGMENTED.v6.fragments,
            'nfpcapd: IPv6 extension header 0 not walked': mld,
          }
        : {
            'softflowd: non-first IPv4 fragment in a port-0 flow': EXPECTED_FRAGMENTED.v4.fragments - EXPECTED_FRAGMENTED.v4.datagrams,
            'softflowd: non-first IPv6 fragment in a protocol-0 flow': EXPECTED_FRAGMENTED.v6.fragments - EXPECTED_FRAGMENTED.v6.datagrams,
          };
    assert.deepEqual(a.moved, expectedMoves, `${which}: packets moved by the documented-difference rules`);
    return a;
  }

  it('nfpcapd and softflowd agree per 5-tuple once their documented differences are undone (harness self-check)', () => {
    assertSameTotals(adjusted('nfpcapdEth').totals, adjusted('softflowdEth').totals, 'nfpcapd', 'softflowd');
    assertSameTotals(adjusted('nfpcapdSll1').totals, adjusted('softflowdSll1').totals, 'nfpcapd (cooked v1)', 'softflowd (cooked v1)');
  });

  it('endsight prints IPv6 addresses in RFC 5952 form', () => {
    const es = need(endsight.eth, 'endsight on the Ethernet capture');
    const bad = es.flows.flatMap((f) => [f.srcAddr, f.dstAddr]).filter((a) => canonicalAddress(a) !== a);
    assert.deepEqual([...new Set(bad)], [], 'addresses not in RFC 5952 form');
  });

  it('per 5-tuple totals: endsight == nfpcapd', () => {
    const es = need(endsight.eth, 'endsight on the Ethernet capture');
    assertSameTotals(totalsByTuple(es.flows), adjusted('nfpcapdEth').totals, 'endsight', 'nfpcapd');
  });

  it('per 5-tuple totals: endsight == softflowd', () => {
    const es = need(endsight.eth, 'endsight on the Ethernet capture');
    assertSameTotals(totalsByTuple(es.flows), adjusted('softflowdEth').totals, 'endsight', 'softflowd');
  });

  it('records one for one with nfpcapd: 5-tuple, start and end within 1 ms, packets, bytes, flags', (t) => {
    const es = need(endsight.eth, 'endsight on the Ethernet capture');
    const nf = need(peers.nfpcapdEth, 'nfpcapd');
    const idleUs = IDLE_TIMEOUT_S * 1e6;
    const esJoined = joinEndsightTcpCloseSplits(es.flows, idleUs);
    const nfJoined = joinNfpcapdPerPacketRecords(nf.flows, idleUs, ACTIVE_TIMEOUT_S * 1e6);
    // A lab run lasts seconds: no record may end by a timeout, eviction or anything but FIN/RST or
    // the end of the capture.
    const reasons = new Set(es.flows.map((f) => f.endReason));
    assert.deepEqual([...reasons].filter((r) => !['fin', 'rst', 'end'].includes(String(r))), [], 'unexpected end reasons');
    const excluded = adjusted('nfpcapdEth').touched;
    const result = compareRecords(esJoined.records, nfJoined.records, excluded);
    // The FIN timeout keeps the last ACK in the closing record: the only FIN/RST splits left are those
    // the capture's packets call for, and the lab causes none on purpose.
    const splits = expectedTcpCloseSplits(ethernetScan, FIN_TIMEOUT_S * 1e6, idleUs);
    assert.equal(
      splits.length,
      LAB_LATE_PACKETS_AFTER_CLOSE,
      `the capture has TCP packets later than the FIN timeout after a FIN/RST, or new SYNs, that the lab does not send on purpose: ${JSON.stringify(splits.slice(0, 10))}`,
    );
    assert.equal(esJoined.joined, splits.length, `endsight split ${esJoined.joined} TCP records at FIN/RST; the capture calls for ${splits.length}`);
    t.diagnostic(
      `compared ${result.comparedRecords} records of ${result.comparedTuples} tuples; joined ${esJoined.joined} endsight FIN/RST splits ` +
        `and ${nfJoined.joined} nfpcapd per-packet records; excluded ${result.excludedTuples.length} tuples touched by fragment/extension-header rules`,
    );
    // The exclusion is narrow: only ICMP echo, DNS/UDP, MLD and the peers' port-0 / protocol-0/44 tuples.
    for (const key of result.excludedTuples) {
      assert.match(key, /^(1 |58 |0 |44 |17 \S+:53 > |17 \S+ > \S+:53$)/, `unexpected excluded tuple ${key}`);
    }
    assert.ok(result.excludedTuples.length <= 60, `${result.excludedTuples.length} tuples excluded`);
    assert.ok(result.comparedRecords >= 40, `only ${result.comparedRecords} records compared`);
    if (result.differences.length > 0) {
      assert.fail(`${result.differences.length} record differences between endsight and nfpcapd:\n${result.differences.slice(0, 40).join('\n')}`);
    }
  });

  it('expectedTcpCloseSplits follows the FIN timeout rule (on crafted packets)', () => {
    const packet = (index: number, timeUs: number, tcpFlags: number, srcPort = 40000): ScannedPacket => ({
      index, timeUs, vlanTpids: [], ipVersion: 4, srcAddr: '10.0.0.1', dstAddr: '10.0.0.2', ipBytes: 40, firstNextHeader: 6,
      protocol: 6, hasExtensionHeaders: false, fragment: null, srcPort, dstPort: 80, tcpFlags,
    });
    const splits = (packets: ScannedPacket[]) => expectedTcpCloseSplits({ linkType: 1, packets, nonIpFrames: 0 }, 5e6, 90e6).map((s) => s.packetIndex);
    const [S, A, FA, RA] = [0x02, 0x10, 0x11, 0x14];
    assert.deepEqual(splits([packet(0, 0, S), packet(1, 1e3, FA), packet(2, 2e3, A)]), [], 'the last ACK within the FIN timeout stays');
    assert.deepEqual(splits([packet(0, 0, S), packet(1, 1e3, FA), packet(2, 1e3 + 5e6, A)]), [], 'exactly the FIN timeout later still stays');
    assert.deepEqual(splits([packet(0, 0, S), packet(1, 1e3, FA), packet(2, 2e3 + 5e6, A), packet(3, 30e6, A)]), [2], 'later than the FIN timeout');
    assert.deepEqual(splits([packet(0, 0, S), packet(1, 1e3, RA), packet(2, 1e6, S), packet(3, 2e6, A)]), [2], 'a new SYN after a RST');
    assert.deepEqual(splits([packet(0, 0, A), packet(1, 100e6, A), packet(2, 101e6, A)]), [], 'an idle gap is no FIN split');
    assert.deepEqual(splits([packet(0, 0, FA), packet(1, 6e6, A, 40001)]), [], 'per tuple');
  });

  it('Linux cooked v1 and v2: endsight on each == peers on cooked v1 == endsight on Ethernet', () => {
    const sll2 = totalsByTuple(need(endsight.sll2, 'endsight on cooked v2').flows);
    const sll1 = totalsByTuple(need(endsight.sll1, 'endsight on cooked v1').flows);
    const eth = totalsByTuple(need(endsight.eth, 'endsight on Ethernet').flows);
    assertSameTotals(sll2, sll1, 'endsight cooked v2', 'endsight cooked v1');
    assertSameTotals(sll1, adjusted('nfpcapdSll1').totals, 'endsight cooked v1', 'nfpcapd cooked v1');
    assertSameTotals(sll1, adjusted('softflowdSll1').totals, 'endsight cooked v1', 'softflowd cooked v1');
    assertSameTotals(sll2, eth, 'endsight cooked v2', 'endsight Ethernet');
  });

  it('the comparison catches typical metering bugs (mutations of endsight\'s records)', () => {
    const es = need(endsight.eth, 'endsight on the Ethernet capture').flows;
    const nf = need(peers.nfpcapdEth, 'nfpcapd').flows;
    const nfTotals = adjusted('nfpcapdEth');
    const sfTotals = adjusted('softflowdEth').totals;
    const idleUs = IDLE_TIMEOUT_S * 1e6;
    const nfRecords = joinNfpcapdPerPacketRecords(nf, idleUs, ACTIVE_TIMEOUT_S * 1e6).records;
    const expectedSplits = expectedTcpCloseSplits(ethernetScan, FIN_TIMEOUT_S * 1e6, idleUs).length;
    const detected = (flows: MeterFlow[]) => {
      const totals = totalsByTuple(flows);
      const joined = joinEndsightTcpCloseSplits(flows, idleUs);
      const records = compareRecords(joined.records, nfRecords, nfTotals.touched);
      return diffTotals(totals, nfTotals.totals).length + diffTotals(totals, sfTotals).length + records.differences.length + Math.abs(joined.joined - expectedSplits);
    };
    const copy = () => es.map((f) => ({ ...f }));
    const mutations: [string, (flows: MeterFlow[]) => MeterFlow[]][] = [
      ['one packet lost from a bulk flow', (f) => { const x = f.find((y) => y.packets > 500)!; x.packets--; x.bytes -= 1500; return f; }],
      ['ICMP dst_port without the code shift', (f) => { for (const x of f) if (x.protocol === 1 || x.protocol === 58) x.dstPort >>= 8; return f; }],
      ['Ethernet header counted in bytes', (f) => { for (const x of f) x.bytes += 14 * x.packets; return f; }],
      ['a record starting 2 ms early', (f) => { const x = f.find((y) => y.protocol === 6 && y.endReason === 'fin')!; x.startUs -= 2000; return f; }],
      ['a FIN flag lost', (f) => { const x = f.find((y) => y.protocol === 6 && (y.tcpFlags & 1) === 1)!; x.tcpFlags &= ~1; return f; }],
      ['QinQ frames not decoded', (f) => f.filter((x) => ![x.srcAddr, x.dstAddr].some((a) => a === LAB_ADDRESSES.cQinq4 || a === LAB_ADDRESSES.cQinq6))],
      ['Hop-by-Hop (MLD) packets dropped', (f) => f.filter((x) => x.dstAddr !== 'ff02::16')],
      ['non-first fragments in a port-0 flow', (f) => {
        const x = f.find((y) => y.protocol === 17 && y.srcPort === 53 && y.packets === 3)!;
        x.packets = 1;
        f.push({ ...x, srcPort: 0, dstPort: 0, packets: 2, bytes: 1 });
        x.bytes -= 1;
        return f;
      }],
      ['the last ACK after a FIN in a record of its own (no FIN timeout)', (f) => {
        const x = f.find((y) => y.protocol === 6 && y.endReason === 'fin' && y.packets > 3)!;
        const ackBytes = x.srcAddr.includes(':') ? 72 : 52; // IP + TCP headers with timestamps, no payload
        f.push({ ...x, startUs: x.endUs, packets: 1, bytes: ackBytes, tcpFlags: 0x10 });
        x.packets--; x.bytes -= ackBytes; x.endUs -= 1;
        return f;
      }],
      ['a UDP flow split in two records', (f) => {
        const x = f.find((y) => y.protocol === 17 && y.packets > 1000)!;
        f.push({ ...x, packets: 1, bytes: 1000, startUs: x.endUs, endUs: x.endUs });
        x.packets--; x.bytes -= 1000; x.endUs -= 1;
        return f;
      }],
    ];
    assert.equal(detected(copy()), 0);
    const missed = mutations.filter(([, mutate]) => detected(mutate(copy())) === 0).map(([name]) => name);
    assert.deepEqual(missed, [], 'mutations the comparison did not detect');
  });
});

