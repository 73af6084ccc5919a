/**
 * Independent flow meters run on a capture file, with their records normalised to {@link MeterFlow}:
 * nfpcapd (nfdump 1.7.1) and softflowd 1.1.0 (exporting IPFIX to nfcapd). Debian packages
 * `nfdump` and `softflowd`.
 *
 * What each peer does, verified here with the Debian bookworm builds (crafted pcaps and the lab's
 * real traffic; see also the comments in differential.test.ts):
 *
 * nfpcapd 1.7.1 (`nfpcapd -r file -w dir -e active,inactive`):
 * - One-way records, IP-layer bytes (IP header + payload).
 * - ICMP and ICMPv6: one record per packet (never aggregated). dst port = type*256+code; src port 0,
 *   except for a reassembled IPv4 datagram, where it is the IP identification.
 * - UDP to or from port 53: one record per packet (DNS is flushed at once).
 * - IPv4 fragments are reassembled: a datagram counts as ONE packet of (first IP header + all
 *   payload) bytes, in the datagram's 5-tuple.
 * - IPv6 extension headers are not walked: a packet whose first next-header is Hop-by-Hop (0),
 *   Routing (43), Fragment (44) or Destination Options (60) is counted under that protocol number
 *   with ports 0 (so MLD reports, which carry Hop-by-Hop, show as protocol 0; every fragment of every
 *   IPv6 datagram, first or not, as protocol 44). No IPv6 reassembly.
 * - TCP FIN and RST do not end a record: later packets of the 5-tuple (the last ACK, packets after a
 *   RST) stay in it.
 * - Timeouts when reading a file are approximate (checked lazily as packet time advances): a 100 s
 *   gap (idle timeout 90 s) did not split a flow, and with a packet every 60 s the active timeout of
 *   1800 s ended the record after 1860 s. A lab run lasts seconds, so the differential test does not
 *   exercise either timeout against nfpcapd.
 * - VLAN: one 802.1Q tag and two 0x8100 tags are parsed; a frame with an 802.1ad (0x88a8) outer tag
 *   is skipped. Linux cooked v1 (LINUX_SLL) is read; cooked v2 (LINUX_SLL2) is not (no records).
 * - nfdump prints times in milliseconds, truncated (…49.051954 → .051); `%tsr`/`%ter` are wrong in
 *   1.7.1 (the fraction is mangled), so `%ts`/`%te` are parsed with TZ=UTC. `-6` prints IPv6 in full.
 *
 * softflowd 1.1.0 (`softflowd -r file -n 127.0.0.1:port -v 10 -A milli -c none`):
 * - Tracks bidirectional flows and exports two one-way records with the SAME start and end (those of
 *   the bidirectional flow), so only per-5-tuple totals are comparable, never record times.
 * - Reading a file, no timeout is applied at all (idle, active = maxlife, FIN, RST): every 5-tuple is
 *   one flow, flushed at end of file (`-m` flows are kept; we pass a high `-m`).
 * - Non-first IPv4 fragments are counted in (src, dst, 0, 0, proto); non-first IPv6 fragments in
 *   (src, dst, 0, 0, 0) (the protocol is never set for them). First fragments go to the datagram's
 *   5-tuple (IPv6 extension headers are walked). Each fragment is a packet of its own IP length.
 * - ICMP: src port 0, dst port type*256+code. Exported as NetFlow v9, nfdump 1.7.1 shows ICMPv6
 *   type.code as 0.0, so we export IPFIX (`-v 10`), which keeps them; `-A milli` makes the IPFIX
 *   times absolute (the default sysUpTime-relative ones come out wrong for a file read later).
 * - VLAN: exactly one 802.1Q tag is parsed; frames with two tags (0x88a8 or 0x8100 outer) are ignored
 *   as non-IP. Reads LINUX_SLL (cooked v1), not LINUX_SLL2.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { freeUdpPort } from '../../src/common/free-port.js';
import { canonicalAddress, parseTcpFlags, type MeterFlow } from './meter-flow.js';
import { Lab, requirePrograms, runCommand, sleep } from '../../src/lab/netns.js';

/** Timeouts shared by all meters in a comparison (endsight's defaults). */
export interface MeterTimeouts {
  /** Idle (inactive) timeout, seconds. Default 90. */
  idleTimeoutS?: number;
  /** Active timeout, seconds. Default 1800. */
  activeTimeoutS?: number;
}

/** Options for the peer runners. */
export interface PeerRunOptions extends MeterTimeouts {
  /** Empty or missing directory for the peer's output files. */
  outDir: string;
}

/** What a peer produced. */
export interface PeerResult {
  flows: MeterFlow[];
  /** The command lines run, for reports. */
  commands: string[];
  /** The peer's own summary lines (counters it prints). */
  summary: string;
}

/** Programs the peer runners need, and their Debian packages. */
export const PEER_PROGRAMS: Record<string, string> = { nfpcapd: 'nfdump', nfcapd: 'nfdump', nfdump: 'nfdump', softflowd: 'softflowd' };

const NFDUMP_FORMAT = 'fmt:%ts|%te|%pr|%sa|%sp|%da|%dp|%pkt|%byt|%flg|%it|%ic';

/**
 * Runs nfpcapd on a capture file (pcap; Ethernet, 802.1Q, Linux cooked v1) and reads its records
 * back with nfdump. Fast: ~20,000 packets in a fraction of a second.
 */
export async function runNfpcapd(pcapPath: string, options: PeerRunOptions): Promise<PeerResult> {
  requirePrograms({ nfpcapd: 'nfdump', nfdump: 'nfdump' });
  const idle = options.idleTimeoutS ?? 90;
  const active = options.activeTimeoutS ?? 1800;
  await mkdir(options.outDir, { recursive: true });
  // -s: snaplen; the default 1522 would count longer frames as "short caplen".
  const argv = ['nfpcapd', '-r', pcapPath, '-w', options.outDir, '-e', `${active},${idle}`, '-s', '65535'];
  const run = await runCommand(argv, { timeoutMs: 120_000 });
  const output = run.stdout + run.stderr;
  const summary = output.split('\n').filter((l) => /Processed:|Flows:/.test(l)).join('\n');
  const flows = await readNfdumpDir(options.outDir);
  return { flows, commands: [argv.join(' ')], summary };
}

/**
 * Runs softflowd on a capture file, exporting IPFIX to an nfcapd started on 127.0.0.1 (a free UDP
 * port) for the duration, then reads the records with nfdump. Checks that nfcapd received as many
 * records as softflowd says it exported (UDP on loopback can drop).
 */
export async function runSoftflowd(pcapPath: string, options: PeerRunOptions): Promise<PeerResult> {
  const idle = options.idleTimeoutS ?? 90;
  const active = options.activeTimeoutS ?? 1800;
  requirePrograms({ softflowd: 'softflowd', nfcapd: 'nfdump', nfdump: 'nfdump' });
  await mkdir(options.outDir, { recursive: true });
  const port = await freeUdpPort();
  const lab = new Lab(`es-diff-${process.pid}-softflowd`);
  try {
    const nfcapdArgv = ['nfcapd', '-b', '127.0.0.1', '-p', String(port), '-w', options.outDir, '-t', '3600', '-B', String(8 << 20)];
    const nfcapd = lab.start('nfcapd', nfcapdArgv);
    await nfcapd.waitForOutput(/Startup nfcapd/);
    const timeouts = [
      `maxlife=${active}`,
      `general=${idle}`,
      `tcp=${idle}`,
      `udp=${idle}`,
      `icmp=${idle}`,
      // softflowd shortens these after FIN/RST; NetFlow-style meters end the flow instead. Reading a
      // file, softflowd applies no timeout anyway; set them to the idle timeout for clarity.
      `tcp.rst=${idle}`,
      `tcp.fin=${idle}`,
    ].flatMap((t) => ['-t', t]);
    const softflowdArgv = [
      'softflowd', '-r', pcapPath, '-n', `127.0.0.1:${port}`, '-v', '10', '-A', 'milli', '-c', 'none',
      '-p', join(options.outDir, 'softflowd.pid'), '-m', '1000000', '-6', '-d', ...timeouts,
    ];
    const run = await runCommand(softflowdArgv, { timeoutMs: 120_000 });
    const exported = run.stdout.match(/Flows exported: \d+ \((\d+) records\)/);
    if (!exported) throw new Error(`softflowd printed no export count: ${run.stdout}${run.stderr}`);
    const expectedRecords = Number(exported[1]);
    // Give nfcapd a moment to take the datagrams off its socket, then stop it so it closes its file.
    await sleep(300);
    await nfcapd.stop('SIGTERM', 5_000);
    const m = (nfcapd.stdout + nfcapd.stderr).match(/Flows: (\d+)/);
    const received = m ? Number(m[1]) : -1;
    if (received !== expectedRecords) {
      throw new Error(`nfcapd received ${received} records but softflowd exported ${expectedRecords}: ${nfcapd.stdout}${nfcapd.stderr}`);
    }
    const flows = await readNfdumpDir(options.outDir);
    if (flows.length !== expectedRecords) {
      throw new Error(`nfdump read ${flows.length} records from nfcapd's files, softflowd exported ${expectedRecords}`);
    }
    const summary = run.stdout
      .split('\n')
      .filter((l) => /Packets processed|Fragments|Ignored packets|Flows exported/.test(l))
      .join('\n');
    return { flows, commands: [nfcapdArgv.join(' '), softflowdArgv.join(' ')], summary };
  } finally {
    await lab.cleanup();
  }
}

/** Reads every nfcapd file in `dir` with nfdump and normalises the records. */
export async function readNfdumpDir(dir: string): Promise<MeterFlow[]> {
  const files = (await readdir(dir)).filter((f) => f.startsWith('nfcapd.') && !f.startsWith('nfcapd.current'));
  if (files.length === 0) return [];
  const run = await runCommand(['nfdump', '-R', dir, '-6', '-N', '-q', '-o', NFDUMP_FORMAT], {
    env: { TZ: 'UTC' },
    timeoutMs: 120_000,
  });
  return parseNfdumpLines(run.stdout);
}

/** Parses nfdump output in {@link NFDUMP_FORMAT}. */
export function parseNfdumpLines(text: string): MeterFlow[] {
  const flows: MeterFlow[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const f = line.split('|').map((s) => s.trim());
    if (f.length !== 12) throw new Error(`Cannot parse nfdump line "${line}"`);
    const [ts, te, pr, sa, sp, da, dp, pkt, byt, flg, it, ic] = f;
    const protocol = Number(pr);
    const icmp = protocol === 1 || protocol === 58;
    flows.push({
      startUs: parseNfdumpTime(ts),
      endUs: parseNfdumpTime(te),
      timeResolutionUs: 1000,
      srcAddr: canonicalAddress(sa),
      dstAddr: canonicalAddress(da),
      srcPort: Number(sp),
      dstPort: icmp ? Number(it) * 256 + Number(ic) : Number(dp),
      protocol,
      packets: Number(pkt),
      bytes: Number(byt),
      tcpFlags: protocol === 6 ? parseTcpFlags(flg) : 0,
      endReason: null,
    });
    const last = flows[flows.length - 1];
    for (const [k, v] of Object.entries(last)) {
      if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`Cannot parse ${k} in nfdump line "${line}"`);
    }
  }
  return flows;
}

/** "2026-11-22 07:56:49.068" (UTC) → µs. */
function parseNfdumpTime(text: string): number {
  const m = text.match(/^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3})$/);
  if (!m) throw new Error(`Cannot parse nfdump time "${text}"`);
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6], +m[7]);
  return ms * 1000;
}

/** Versions of the peers as Debian reports them, e.g. `{ nfdump: '1.7.1-2+deb12u1', ... }`. */
export async function peerVersions(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const pkg of ['nfdump', 'softflowd', 'tcpdump', 'libpcap0.8']) {
    const r = await runCommand(['dpkg-query', '-W', '-f', '${Version}', pkg], { allowFailure: true });
    out[pkg] = r.code === 0 ? r.stdout.trim() : 'not installed';
  }
  return out;
}
