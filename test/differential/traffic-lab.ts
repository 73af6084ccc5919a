/**
 * A small network of namespaces with real programs talking over it, captured with tcpdump: the
 * input of the differential test (and of benchmarks that want real traffic).
 *
 * ```
 *   A (client) a0 ───────────────── b0 B (server: http.server, DNS responder, iperf3 ×4)
 *     10.77.1.1, fd77:1::1            10.77.1.2, fd77:1::2
 *                                     b1 10.77.2.2, fd77:2::2
 *                                     │
 *   C (VLAN client) c0 ── m0 M m1 ────┘
 *     10.77.2.1, fd77:2::1  (tagged 802.1Q VID 10 on the trunk)
 *     10.77.2.11, fd77:2::11 (tagged 802.1ad VID 100 + 802.1Q VID 20 on the trunk)
 *                          M: userspace tagger m0 → t0 ⇄ t1 → m1 (see VLAN_FORWARDER_PY)
 * ```
 * The kernel here has no 8021q driver, so M tags in userspace (AF_PACKET): every frame between C
 * and B crosses the veth pair t0–t1 tagged, and tcpdump on t0 records the tags.
 *
 * Captures, all started before any address exists and stopped after the traffic has ended:
 * - `ab.pcap`: tcpdump on b0 (Ethernet), everything between A and B;
 * - `trunk.pcap`: tcpdump on t0 (Ethernet, tagged), everything between C and B;
 * - `ethernet.pcap`: the two above merged by time (what the meters read);
 * - `any-sll2.pcap` / `any-sll1.pcap`: `tcpdump -i any` in B, in the default link type (Linux cooked
 *   v2 with tcpdump 4.99 / libpcap 1.10) and with `-y LINUX_SLL` (cooked v1). They hold the same IP
 *   packets as ethernet.pcap (B sees all of the lab's traffic), without the VLAN tags.
 *
 * IPv6 is switched on per interface only after the captures listen, so the link-local addresses'
 * MLD reports are captured too; DAD and router solicitation are off so nothing else is random.
 * Nothing leaves the namespaces.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DNS_RESPONDER_PY, VLAN_FORWARDER_PY } from './lab-scripts.js';
import { Lab, requirePrograms, runCommand, sleep, type BackgroundProcess, type Netns } from '../../src/lab/netns.js';
import { mergePcaps, readPcap, writePcap } from './pcap-file.js';

/** Programs the lab runs, and the Debian packages that provide them. */
export const LAB_PROGRAMS: Record<string, string> = {
  ip: 'iproute2',
  ethtool: 'ethtool',
  sysctl: 'procps',
  tcpdump: 'tcpdump',
  python3: 'python3',
  curl: 'curl',
  dig: 'dnsutils',
  ping: 'iputils-ping',
  iperf3: 'iperf3',
};

/** Addresses used in the lab. */
export const LAB_ADDRESSES = {
  a4: '10.77.1.1',
  a6: 'fd77:1::1',
  b4: '10.77.1.2',
  b6: 'fd77:1::2',
  /** B's addresses on the VLAN side. */
  bv4: '10.77.2.2',
  bv6: 'fd77:2::2',
  /** C's addresses whose frames are single-tagged (802.1Q VID 10). */
  cVlan4: '10.77.2.1',
  cVlan6: 'fd77:2::1',
  /** C's addresses whose frames are QinQ-tagged (802.1ad VID 100 over 802.1Q VID 20). */
  cQinq4: '10.77.2.11',
  cQinq6: 'fd77:2::11',
} as const;

/** VLAN ids the forwarder uses. */
export const LAB_VLANS = { single: 10, qinqOuter: 100, qinqInner: 20 } as const;

/** Options for {@link runTrafficLab}. */
export interface TrafficLabOptions {
  /** Directory for captures and scratch files (created if missing). */
  workDir: string;
  /** Length of each iperf3 run, seconds (the four runs are concurrent). Default 2. */
  iperfSeconds?: number;
  /** iperf3 target rates. Defaults 20M (TCP) and 10M (UDP): enough packets, small captures. */
  iperfTcpRate?: string;
  iperfUdpRate?: string;
  /** Size of the file fetched over HTTP from A (bytes). Default 1 MiB. */
  httpFileBytes?: number;
  /** Progress messages. */
  log?: (message: string) => void;
}

/** tcpdump's own counters at exit. */
export interface CaptureStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
  /** Link type tcpdump reported ("EN10MB", "LINUX_SLL2", ...). */
  linkTypeName: string;
}

/** What {@link runTrafficLab} produced. */
export interface TrafficLabResult {
  /** A–B link and the tagged trunk merged by time (Ethernet). */
  ethernetPcap: string;
  abPcap: string;
  trunkPcap: string;
  /** `tcpdump -i any` in B, default link type (cooked v2 here). */
  cookedDefaultPcap: string;
  /** `tcpdump -i any -y LINUX_SLL` in B (cooked v1). */
  cookedV1Pcap: string;
  captureStats: Record<'ab' | 'trunk' | 'anyDefault' | 'anyV1', CaptureStats>;
  /** The forwarder's counters: frames tagged 802.1Q / QinQ, forwarded, send errors. */
  forwarder: { vlan: number; qinq: number; forwarded: number; sendErrors: number };
  /** One line per traffic program: what ran and what it reported. */
  trafficLog: string[];
  durationMs: number;
}

/**
 * Builds the lab, runs the traffic, captures it, and tears everything down again (namespaces and
 * processes are removed also when a step fails). Needs root. Takes about 6 s.
 */
export async function runTrafficLab(options: TrafficLabOptions): Promise<TrafficLabResult> {
  requirePrograms(LAB_PROGRAMS);
  const started = Date.now();
  const log = options.log ?? (() => {});
  const workDir = options.workDir;
  const www = join(workDir, 'www');
  await mkdir(www, { recursive: true });
  await writeFile(join(www, 'big.bin'), pseudoRandomBytes(options.httpFileBytes ?? 1 << 20, 1));
  await writeFile(join(www, 'small.bin'), pseudoRandomBytes(100_000, 2));
  const forwarderPy = join(workDir, 'vlan-forwarder.py');
  const dnsPy = join(workDir, 'dns-responder.py');
  await writeFile(forwarderPy, VLAN_FORWARDER_PY);
  await writeFile(dnsPy, DNS_RESPONDER_PY);

  const paths = {
    ab: join(workDir, 'ab.pcap'),
    trunk: join(workDir, 'trunk.pcap'),
    anyDefault: join(workDir, 'any-default.pcap'),
    anyV1: join(workDir, 'any-sll1.pcap'),
    ethernet: join(workDir, 'ethernet.pcap'),
  };
  const lab = new Lab();
  const A = LAB_ADDRESSES;
  const trafficLog: string[] = [];
  try {
    // Interfaces are created with IPv6 off (default.disable_ipv6=1) and switched on after the
    // captures listen. accept_dad=0 / router_solicitations=0 keep the link-local side quiet.
    const hostSysctls = {
      'net.ipv6.conf.default.disable_ipv6': '1',
      'net.ipv6.conf.default.accept_dad': '0',
      'net.ipv6.conf.all.accept_dad': '0',
      'net.ipv6.conf.default.router_solicitations': '0',
      'net.ipv6.conf.all.router_solicitations': '0',
    };
    const nsA = await lab.addNamespace('a', hostSysctls);
    const nsB = await lab.addNamespace('b', hostSysctls);
    const nsC = await lab.addNamespace('c', hostSysctls);
    // M only forwards frames: no IPv6 at all, so it never sends anything of its own.
    const nsM = await lab.addNamespace('m', { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' });
    log(`namespaces ${lab.namespaces.map((n) => n.name).join(', ')}`);

    await lab.addVeth(nsA, 'a0', nsB, 'b0');
    await lab.addVeth(nsC, 'c0', nsM, 'm0');
    // The trunk carries up to 8 bytes of tags on top of a 1500-byte IP packet.
    await lab.addVeth(nsM, 't0', nsM, 't1', 1600);
    await lab.addVeth(nsM, 'm1', nsB, 'b1');

    const forwarder = lab.start(
      'vlan-forwarder',
      nsM.exec([
        'python3', '-u', forwarderPy, '--inner', 'm0', '--trunk-a', 't0', '--trunk-b', 't1', '--outer', 'm1',
        '--vlan', String(LAB_VLANS.single), '--qinq-outer', String(LAB_VLANS.qinqOuter), '--qinq-inner', String(LAB_VLANS.qinqInner),
        '--qinq', A.cQinq4, '--qinq', A.cQinq6,
      ]),
    );
    await forwarder.waitForOutput(/^ready$/m);

    const tcpdumpArgs = ['tcpdump', '-Z', 'root', '-n', '-s', '0', '-B', '16384'];
    const captures = {
      ab: lab.start('tcpdump b0', nsB.exec([...tcpdumpArgs, '-i', 'b0', '-w', paths.ab])),
      trunk: lab.start('tcpdump t0', nsM.exec([...tcpdumpArgs, '-i', 't0', '-w', paths.trunk])),
      anyDefault: lab.start('tcpdump any', nsB.exec([...tcpdumpArgs, '-i', 'any', '-w', paths.anyDefault])),
      anyV1: lab.start('tcpdump any sll1', nsB.exec([...tcpdumpArgs, '-i', 'any', '-y', 'LINUX_SLL', '-w', paths.anyV1])),
    };
    for (const c of Object.values(captures)) await c.waitForOutput(/listening on/);
    log('captures listening');

    // Addresses (nodad: usable at once), then IPv6 on: link-local addresses and MLD reports now.
    const addrs: [Netns, string, string][] = [
      [nsA, 'a0', `${A.a4}/24`], [nsA, 'a0', `${A.a6}/64`],
      [nsB, 'b0', `${A.b4}/24`], [nsB, 'b0', `${A.b6}/64`],
      [nsB, 'b1', `${A.bv4}/24`], [nsB, 'b1', `${A.bv6}/64`],
      [nsC, 'c0', `${A.cVlan4}/24`], [nsC, 'c0', `${A.cVlan6}/64`],
      [nsC, 'c0', `${A.cQinq4}/24`], [nsC, 'c0', `${A.cQinq6}/64`],
    ];
    for (const [ns, dev] of [[nsA, 'a0'], [nsB, 'b0'], [nsB, 'b1'], [nsC, 'c0']] as const) {
      await runCommand(ns.exec(['sysctl', '-q', '-w', `net.ipv6.conf.${dev}.disable_ipv6=0`]));
    }
    for (const [ns, dev, cidr] of addrs) {
      await runCommand(ns.exec(['ip', 'addr', 'add', cidr, 'dev', dev, ...(cidr.includes(':') ? ['nodad'] : [])]));
    }

    // Servers in B.
    const http = lab.start('http.server', nsB.exec(['python3', '-u', '-m', 'http.server', '--bind', '::', '--directory', www, '8080']));
    const dns = lab.start('dns-responder', nsB.exec(['python3', '-u', dnsPy, '--a', A.b4, '--aaaa', A.b6]));
    const iperfServers: BackgroundProcess[] = [];
    for (const port of [5201, 5202, 5203, 5204]) {
      iperfServers.push(lab.start(`iperf3 -s ${port}`, nsB.exec(['iperf3', '-s', '-1', '-p', String(port), '--forceflush'])));
    }
    await http.waitForOutput(/Serving HTTP/);
    await dns.waitForOutput(/^ready$/m);
    for (const s of iperfServers) await s.waitForOutput(/Server listening/);
    log('servers ready');

    const secs = String(options.iperfSeconds ?? 2);
    const tcpRate = options.iperfTcpRate ?? '20M';
    const udpRate = options.iperfUdpRate ?? '10M';
    const dig = (ns: Netns, args: string[]) => ns.exec(['dig', '+tries=1', '+time=3', '+norecurse', ...args]);
    const curl = (ns: Netns, args: string[]) => ns.exec(['curl', '-sS', '--max-time', '15', '-o', '/dev/null', '-w', '%{size_download} bytes %{http_code}', ...args]);
    const ping = (ns: Netns, args: string[]) => ns.exec(['ping', '-q', '-i', '0.1', '-W', '3', ...args]);
    const iperf = (args: string[]) => nsA.exec(['iperf3', '--connect-timeout', '3000', '-t', secs, ...args]);

    // Independent sequences run concurrently; programs within a sequence one after the other.
    // [name, argv, exit codes that count as success (default: 0)]
    const sequences: [string, string[], number[]?][][] = [
      // HTTP over TCP, v4 and v6, several fetches of a 1 MiB file.
      [1, 2, 3].flatMap((i): [string, string[]][] => [
        [`curl v4 #${i}`, curl(nsA, [`http://${A.b4}:8080/big.bin`])],
        [`curl v6 #${i}`, curl(nsA, [`http://[${A.b6}]:8080/big.bin`])],
      ]),
      // iperf3: TCP and UDP, v4 and v6, all four at once (the servers listen on four ports).
      [['iperf3 tcp v4', iperf(['-c', A.b4, '-p', '5201', '-b', tcpRate])]],
      [['iperf3 tcp v6', iperf(['-6', '-c', A.b6, '-p', '5202', '-b', tcpRate])]],
      [['iperf3 udp v4', iperf(['-u', '-c', A.b4, '-p', '5203', '-b', udpRate, '-l', '1200'])]],
      [['iperf3 udp v6', iperf(['-u', '-6', '-c', A.b6, '-p', '5204', '-b', udpRate, '-l', '1200'])]],
      // ICMP echo with IP fragmentation (3,000-byte payload on a 1,500-byte MTU), v4 and v6.
      [
        ['ping v4 frag', ping(nsA, ['-c', '3', '-s', '3000', A.b4])],
        ['ping v6 frag', ping(nsA, ['-6', '-c', '3', '-s', '3000', A.b6])],
        ['ping v4', ping(nsA, ['-c', '2', A.b4])],
      ],
      // DNS over UDP (v4, v6, a fragmented 3 kB TXT answer each) and over TCP.
      [
        ['dig A v4', dig(nsA, [`@${A.b4}`, 'a.lab', 'A'])],
        ['dig AAAA v6', dig(nsA, [`@${A.b6}`, 'a.lab', 'AAAA'])],
        ['dig TXT v4 big', dig(nsA, ['+bufsize=4096', `@${A.b4}`, 'big.lab', 'TXT'])],
        ['dig TXT v6 big', dig(nsA, ['+bufsize=4096', `@${A.b6}`, 'big.lab', 'TXT'])],
        ['dig tcp v4', dig(nsA, ['+tcp', `@${A.b4}`, 'a.lab', 'A'])],
      ],
      // Refused: TCP SYN answered by RST (curl exits 7), UDP answered by ICMP port unreachable
      // (dig exits 9), v4 and v6.
      [
        ['curl refused v4', curl(nsA, ['--connect-timeout', '3', `http://${A.b4}:9/`]), [7]],
        ['curl refused v6', curl(nsA, ['--connect-timeout', '3', `http://[${A.b6}]:9/`]), [7]],
        ['dig unreachable v4', dig(nsA, ['-p', '9', `@${A.b4}`, 'closed.lab', 'A']), [9]],
        ['dig unreachable v6', dig(nsA, ['-p', '9', `@${A.b6}`, 'closed.lab', 'A']), [9]],
      ],
      // Through the VLAN trunk: 802.1Q for C's first addresses, QinQ for its second ones.
      [
        ['vlan dig v4', dig(nsC, ['-b', A.cVlan4, `@${A.bv4}`, 'vlan.lab', 'A'])],
        ['qinq dig v6', dig(nsC, ['-b', A.cQinq6, `@${A.bv6}`, 'qinq.lab', 'AAAA'])],
        ['qinq dig v4', dig(nsC, ['-b', A.cQinq4, `@${A.bv4}`, 'qinq.lab', 'A'])],
        ['vlan dig v6', dig(nsC, ['-b', A.cVlan6, `@${A.bv6}`, 'vlan.lab', 'AAAA'])],
        ['vlan ping v4 frag', ping(nsC, ['-c', '2', '-s', '2000', '-I', A.cVlan4, A.bv4])],
        ['qinq ping v6 frag', ping(nsC, ['-6', '-c', '2', '-s', '2000', '-I', A.cQinq6, A.bv6])],
        ['qinq curl v4', curl(nsC, ['--interface', A.cQinq4, `http://${A.bv4}:8080/small.bin`])],
        ['vlan curl v6', curl(nsC, ['--interface', A.cVlan6, `http://[${A.bv6}]:8080/small.bin`])],
      ],
    ];
    await Promise.all(
      sequences.map(async (sequence) => {
        for (const [name, argv, okCodes = [0]] of sequence) {
          const result = await runCommand(argv, { timeoutMs: 30_000, allowFailure: true });
          if (result.code === null || !okCodes.includes(result.code)) {
            throw new Error(`${name}: \`${argv.join(' ')}\` exited with ${result.signal ?? result.code}: ${(result.stderr + result.stdout).trim().slice(-600)}`);
          }
          trafficLog.push(`${name}: ${summarise(name, result.stdout + result.stderr)}`);
        }
      }),
    );
    log('traffic done');

    // Let the last ACKs and the MLD reports' repetitions (up to ~1 s after IPv6 came up) pass, and
    // wait out libpcap's 1 s TPACKET_V3 block timeout: tcpdump only reads a ring block once it is full
    // or timed out, and drops what it has not read when it is stopped (counted as "received by
    // filter" but not "captured"). --immediate-mode would avoid that but drops packets under load.
    await sleep(2_000);
    const captureStats = {} as TrafficLabResult['captureStats'];
    await Promise.all(Object.values(captures).map((c) => c.stop('SIGINT', 5_000)));
    for (const [key, c] of Object.entries(captures) as [keyof typeof captures, BackgroundProcess][]) {
      captureStats[key] = parseTcpdumpStats(c.stderr, c.name);
    }
    await forwarder.stop('SIGTERM');
    const forwarderCounters = parseForwarderCounters(forwarder.stdout);
    if (forwarderCounters.sendErrors > 0) throw new Error(`VLAN forwarder failed to send ${forwarderCounters.sendErrors} frames: ${forwarder.stderr}`);

    const merged = mergePcaps([await readPcap(paths.ab), await readPcap(paths.trunk)]);
    await writePcap(paths.ethernet, merged);
    return {
      ethernetPcap: paths.ethernet,
      abPcap: paths.ab,
      trunkPcap: paths.trunk,
      cookedDefaultPcap: paths.anyDefault,
      cookedV1Pcap: paths.anyV1,
      captureStats,
      forwarder: forwarderCounters,
      trafficLog,
      durationMs: Date.now() - started,
    };
  } finally {
    const problems = await lab.cleanup();
    if (problems.length > 0) log(`cleanup problems: ${problems.join('; ')}`);
  }
}

function summarise(name: string, stdout: string): string {
  if (name.startsWith('curl') || name.includes('curl')) return stdout.trim();
  if (name.startsWith('iperf3')) {
    const lines = stdout.split('\n').filter((l) => /sender|receiver/.test(l));
    return lines.map((l) => l.replace(/\s+/g, ' ').trim()).join(' | ');
  }
  if (name.includes('ping')) return (stdout.match(/\d+ packets transmitted.*$/m) ?? [''])[0];
  if (name.includes('dig')) return (stdout.match(/status: \w+/) ?? ['?'])[0] + ' ' + (stdout.match(/MSG SIZE\s+rcvd: \d+/) ?? [''])[0];
  return stdout.trim().slice(0, 200);
}

/** Parses tcpdump's exit counters ("N packets captured", ...). */
export function parseTcpdumpStats(stderr: string, name: string): CaptureStats {
  const num = (re: RegExp) => {
    const m = stderr.match(re);
    if (!m) throw new Error(`${name}: no "${re.source}" in tcpdump's output: ${stderr}`);
    return Number(m[1]);
  };
  return {
    captured: num(/(\d+) packets? captured/),
    receivedByFilter: num(/(\d+) packets? received by filter/),
    droppedByKernel: num(/(\d+) packets? dropped by kernel/),
    linkTypeName: (stderr.match(/link-type (\S+)/) ?? ['', '?'])[1],
  };
}

function parseForwarderCounters(stdout: string): TrafficLabResult['forwarder'] {
  const m = stdout.match(/counters vlan=(\d+) qinq=(\d+) forwarded=(\d+) send_errors=(\d+)/);
  if (!m) throw new Error(`VLAN forwarder printed no counters: ${stdout}`);
  return { vlan: Number(m[1]), qinq: Number(m[2]), forwarded: Number(m[3]), sendErrors: Number(m[4]) };
}

/** Deterministic incompressible bytes (xorshift32), so HTTP bodies are the same on every run. */
function pseudoRandomBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed * 2654435761 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
