/**
 * The CLI as a user meets it: every test spawns `node bin/endsight.js …` with its own temporary
 * --data-dir and checks exit codes, stdout and stderr. Captures are built in the test from a short
 * description of each flow, so the expected records (packets, IP-layer bytes per 5-tuple) are known
 * without running endsight's own code.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { buildPcap, PcapngBuilder, type PcapRecordSpec } from '../capture/capture-builder.js';
import { buildPacket, type PacketSpec } from '../decode/build-packet.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/src/cli → repository root
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/endsight.js ...args` to completion. */
function endsight(args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs and insists on success, showing stderr when it fails. */
async function ok(args: readonly string[]): Promise<RunResult> {
  const r = await endsight(args);
  assert.equal(r.code, 0, `endsight ${args.join(' ')} exited ${r.code ?? r.signal}: ${r.stderr}`);
  return r;
}

/** Parses JSON lines (the `--format json` output of query and flows). */
function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const tempDirs: string[] = [];
async function tempDir(prefix = 'endsight-cli-'): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of tempDirs) await fs.rm(dir, { recursive: true, force: true });
});

/** Every file under `dir` (relative path → size and SHA-256), to show a store did not change. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (sub: string): Promise<void> => {
    for (const entry of await fs.readdir(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) {
        out[rel + '/'] = 'dir';
        await walk(rel);
      } else {
        const bytes = await fs.readFile(path.join(dir, rel));
        out[rel] = `${bytes.length} ${createHash('sha256').update(bytes).digest('hex')}`;
      }
    }
  };
  await walk('');
  return out;
}

async function filesUnder(dir: string, suffix: string): Promise<string[]> {
  const all = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return all.filter((f) => f.endsWith(suffix)).map((f) => path.join(dir, f));
}

// ---------------------------------------------------------------------------------------------------
// The capture: seven unidirectional flows, four of them five hours ago and three ten minutes ago.

interface FlowSpec {
  name: string;
  ipVersion: 4 | 6;
  protocol: number;
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** Seconds before "now" of the flow's first packet. */
  agoSeconds: number;
  /** One entry per packet: payload bytes after the transport header, TCP flags, µs after the flow's start. */
  packets: { payload: number; flags?: number; atUs: number }[];
}

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const NOW_S = Math.floor(Date.now() / 1000);
const OLD_AGO_S = 5 * 3600;
const RECENT_AGO_S = 600;

const FLOWS: FlowSpec[] = [
  {
    name: 'dns query', ipVersion: 4, protocol: UDP, src: '10.0.0.1', dst: '10.0.0.53', srcPort: 40001, dstPort: 53, agoSeconds: OLD_AGO_S,
    packets: [{ payload: 30, atUs: 0 }, { payload: 30, atUs: 1_000 }, { payload: 30, atUs: 2_000_000 }],
  },
  {
    name: 'dns answer', ipVersion: 4, protocol: UDP, src: '10.0.0.53', dst: '10.0.0.1', srcPort: 53, dstPort: 40001, agoSeconds: OLD_AGO_S,
    packets: [{ payload: 100, atUs: 500 }, { payload: 100, atUs: 1_500 }, { payload: 100, atUs: 2_000_500 }],
  },
  {
    // Client side of a TCP connection, including its last ACK after the server's FIN.
    name: 'https client', ipVersion: 4, protocol: TCP, src: '10.0.0.1', dst: '192.0.2.80', srcPort: 40002, dstPort: 443, agoSeconds: OLD_AGO_S,
    packets: [
      { payload: 0, flags: 0x02, atUs: 10_000 }, { payload: 0, flags: 0x10, atUs: 10_200 }, { payload: 500, flags: 0x18, atUs: 10_300 },
      { payload: 0, flags: 0x11, atUs: 20_000 }, { payload: 0, flags: 0x10, atUs: 20_400 },
    ],
  },
  {
    name: 'https server', ipVersion: 4, protocol: TCP, src: '192.0.2.80', dst: '10.0.0.1', srcPort: 443, dstPort: 40002, agoSeconds: OLD_AGO_S,
    packets: [
      { payload: 0, flags: 0x12, atUs: 10_100 }, { payload: 1400, flags: 0x10, atUs: 10_500 }, { payload: 1400, flags: 0x10, atUs: 10_600 },
      { payload: 1400, flags: 0x10, atUs: 10_700 }, { payload: 0, flags: 0x11, atUs: 20_200 },
    ],
  },
  {
    name: 'dns over ipv6', ipVersion: 6, protocol: UDP, src: '2001:db8::1', dst: '2001:db8::2', srcPort: 5353, dstPort: 53, agoSeconds: RECENT_AGO_S,
    packets: [{ payload: 20, atUs: 0 }, { payload: 20, atUs: 3_000_000 }],
  },
  {
    name: 'ping', ipVersion: 4, protocol: ICMP, src: '10.1.1.1', dst: '203.0.113.8', srcPort: 0, dstPort: 8 * 256, agoSeconds: RECENT_AGO_S,
    packets: [{ payload: 56, atUs: 100 }, { payload: 56, atUs: 1_000_100 }],
  },
  {
    name: 'bulk udp', ipVersion: 4, protocol: UDP, src: '172.16.0.5', dst: '10.0.0.9', srcPort: 5000, dstPort: 6000, agoSeconds: RECENT_AGO_S,
    packets: [0, 1, 2, 3, 4].map((i) => ({ payload: 1000, atUs: 200 + i * 10_000 })),
  },
];

/** IP-layer bytes of one packet, from the protocol headers' fixed sizes (RFC 791, 8200, 768, 9293 §3.1, 792). */
function ipBytes(flow: FlowSpec, payload: number): number {
  const ipHeader = flow.ipVersion === 4 ? 20 : 40;
  const transportHeader = flow.protocol === TCP ? 20 : 8; // UDP and ICMP echo headers are 8 bytes
  return ipHeader + transportHeader + payload;
}

interface TimedPacket {
  flow: FlowSpec;
  timeUs: number;
  ipBytes: number;
  tcpFlags: number;
  frame: Uint8Array;
}

/** Every packet of `flows`, in time order. */
function timedPackets(flows: readonly FlowSpec[]): TimedPacket[] {
  const out: TimedPacket[] = [];
  for (const flow of flows) {
    for (const p of flow.packets) {
      const spec: PacketSpec = {
        ipVersion: flow.ipVersion,
        protocol: flow.protocol,
        src: flow.src,
        dst: flow.dst,
        srcPort: flow.srcPort,
        dstPort: flow.dstPort,
        tcpFlags: p.flags,
        payloadBytes: p.payload,
        ...(flow.protocol === ICMP ? { icmpType: flow.dstPort >> 8, icmpCode: flow.dstPort & 0xff } : {}),
      };
      const timeUs = (NOW_S - flow.agoSeconds) * 1e6 + p.atUs;
      out.push({ flow, timeUs, ipBytes: ipBytes(flow, p.payload), tcpFlags: p.flags ?? 0, frame: buildPacket(spec) });
    }
  }
  return out.sort((a, b) => a.timeUs - b.timeUs);
}

function pcapRecords(packets: readonly TimedPacket[]): PcapRecordSpec[] {
  return packets.map((p) => ({ seconds: Math.floor(p.timeUs / 1e6), fraction: p.timeUs % 1e6, data: p.frame }));
}

const PACKETS = timedPackets(FLOWS);
const PCAP = buildPcap({}, pcapRecords(PACKETS));

/** The expected record of each flow (one record each: no flow is idle for 90 s or closed by a SYN). */
interface Expected {
  key: string;
  packets: number;
  bytes: number;
  tcpFlags: number;
}

function tupleKey(r: { proto: unknown; src_addr: unknown; src_port: unknown; dst_addr: unknown; dst_port: unknown }): string {
  return `${r.proto} ${r.src_addr}:${r.src_port} > ${r.dst_addr}:${r.dst_port}`;
}

function expectedFrom(packets: readonly TimedPacket[]): Map<string, Expected> {
  const out = new Map<string, Expected>();
  for (const p of packets) {
    const f = p.flow;
    const key = tupleKey({ proto: f.protocol, src_addr: f.src, src_port: f.srcPort, dst_addr: f.dst, dst_port: f.dstPort });
    const e = out.get(key) ?? { key, packets: 0, bytes: 0, tcpFlags: 0 };
    e.packets += 1;
    e.bytes += p.ipBytes;
    e.tcpFlags |= p.tcpFlags;
    out.set(key, e);
  }
  return out;
}

const FLOW_QUERY = 'SELECT proto, src_addr, src_port, dst_addr, dst_port, packets, bytes, tcp_flags, end_reason FROM flows';

/** The store's records per 5-tuple (packets and bytes summed), read back through `query --format json`. */
async function storedFlows(dataDir: string, extra: string[] = []): Promise<Map<string, Expected>> {
  const r = await ok(['query', '--format', 'json', '--data-dir', dataDir, ...extra, FLOW_QUERY]);
  const out = new Map<string, Expected>();
  for (const row of jsonLines(r.stdout)) {
    const key = tupleKey(row as never);
    const e = out.get(key) ?? { key, packets: 0, bytes: 0, tcpFlags: 0 };
    e.packets += Number(row.packets);
    e.bytes += Number(row.bytes);
    e.tcpFlags |= Number(row.tcp_flags ?? 0);
    out.set(key, e);
  }
  return out;
}

function sortedValues(m: Map<string, Expected>): Expected[] {
  return [...m.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/** Writes `bytes` to a new temporary file. */
async function writeTemp(name: string, bytes: Uint8Array | string): Promise<string> {
  const file = path.join(await tempDir(), name);
  await fs.writeFile(file, bytes);
  return file;
}

// ---------------------------------------------------------------------------------------------------

describe('endsight --help and --version', () => {
  const verbOptions: Record<string, string[]> = {
    import: ['--idle-timeout', '--active-timeout', '--export-interval', '--max-flows', '--host', '--retention', '--quota', '--format', '--quiet', '--data-dir'],
    query: ['--format', '--since', '--between', '--data-dir'],
    flows: ['--sort', '--limit', '--columns', '--format', '--since', '--between', '--data-dir'],
  };

  test('endsight --help lists every verb and exits 0', async () => {
    const r = await ok(['--help']);
    assert.match(r.stdout, /^Usage: endsight /);
    for (const verb of Object.keys(verbOptions)) assert.match(r.stdout, new RegExp(`^\\s+${verb} `, 'm'), `verb ${verb} not listed`);
    assert.match(r.stdout, /--version/);
    assert.equal(r.stderr, '');
  });

  for (const [verb, options] of Object.entries(verbOptions)) {
    test(`endsight ${verb} --help shows its options and exits 0`, async () => {
      for (const args of [[verb, '--help'], ['help', verb]]) {
        const r = await ok(args);
        assert.match(r.stdout, new RegExp(`^Usage: endsight ${verb} `), args.join(' '));
        for (const option of options) assert.ok(r.stdout.includes(option), `${args.join(' ')} does not mention ${option}`);
        assert.match(r.stdout, /Examples:/);
        assert.equal(r.stderr, '');
      }
    });
  }

  test('endsight --version prints package.json\'s version', async () => {
    const { version } = JSON.parse(await fs.readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await ok([flag]);
      assert.equal(r.stdout, `${version}\n`);
    }
  });
});

describe('endsight keys init', () => {
  test('writes an Ed25519 pair (the private key readable by its owner only) that signs and verifies, and never overwrites it', async () => {
    const dir = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-keys-')), 'authority');
    try {
      const r = await ok(['keys', 'init', '--dir', dir, '--json']);
      const written = JSON.parse(r.stdout) as { privateKey: string; publicKey: string };
      assert.equal((await fs.stat(written.privateKey)).mode & 0o777, 0o600);
      const { loadKey, signQuery, verifySignedQuery, NonceCache } = await import('../fleet/signed-query.js');
      const signed = signQuery(loadKey(await fs.readFile(written.privateKey, 'utf8'), 'private', 'key'), {
        query: 'SELECT 1', target: 'all', limits: { timeoutMs: 1000, maxRows: 1 }, issuer: 'test', audience: 'fleet',
      });
      const host = { id: 'h', site: null, tags: [], addresses: [] };
      const envelope = verifySignedQuery(JSON.stringify(signed), loadKey(await fs.readFile(written.publicKey, 'utf8'), 'public', 'pub'), { audience: 'fleet', host }, new NonceCache());
      assert.equal(envelope.query, 'SELECT 1');
      const before = await fs.readFile(written.privateKey, 'utf8');
      const again = await endsight(['keys', 'init', '--dir', dir]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^endsight: Not overwriting .*authority\.key: an authority key pair is already there/);
      assert.equal(await fs.readFile(written.privateKey, 'utf8'), before);
      const missing = await endsight(['keys', 'init']);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /required option '--dir <dir>' not specified/);
    } finally {
      await fs.rm(path.dirname(dir), { recursive: true, force: true });
    }
  });
});

describe('endsight import, query and flows on a capture built here', () => {
  let dataDir = '';
  let capture = '';
  let importText: RunResult;
  const expected = expectedFrom(PACKETS);

  before(async () => {
    capture = await writeTemp('seven-flows.pcap', PCAP);
    dataDir = path.join(await tempDir(), 'store');
    importText = await endsight(['import', '--data-dir', dataDir, capture]);
  });

  test('import prints a text summary naming packets and flows', () => {
    assert.equal(importText.code, 0, importText.stderr);
    assert.match(importText.stdout, new RegExp(`\\b${PACKETS.length} packets\\b`));
    assert.match(importText.stdout, new RegExp(`\\bStored ${FLOWS.length} flow records\\b`));
    assert.match(importText.stdout, /No packet was skipped/);
    assert.equal(importText.stderr, '', 'no progress bar or warning when stderr is not a terminal');
  });

  test('import --format json prints one JSON object with packets, flows, issues and storedBytes', async () => {
    const store = path.join(await tempDir(), 'store');
    const r = await ok(['import', '--format', 'json', '--data-dir', store, capture]);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, r.stdout);
    const summary = JSON.parse(lines[0]) as Record<string, unknown>;
    assert.equal(summary.packets, PACKETS.length);
    assert.equal(summary.flows, FLOWS.length);
    assert.deepEqual(summary.issues, {});
    const parquet = await filesUnder(path.join(store, 'flows'), '.parquet');
    assert.ok(parquet.length >= 1);
    let onDisk = 0;
    for (const f of parquet) onDisk += (await fs.stat(f)).size;
    assert.equal(summary.storedBytes, onDisk, 'storedBytes is the size of the segments written');
  });

  test('import summary: firstPacketTime and lastPacketTime are the first and last packets\' times', async () => {
    const store = path.join(await tempDir(), 'store');
    const r = await ok(['import', '--format', 'json', '--data-dir', store, capture]);
    const summary = JSON.parse(r.stdout) as { firstPacketTime: string; lastPacketTime: string };
    const iso = (us: number) => new Date(us / 1000).toISOString();
    assert.equal(summary.firstPacketTime, iso(PACKETS[0].timeUs));
    assert.equal(summary.lastPacketTime, iso(PACKETS[PACKETS.length - 1].timeUs));
  });

  test('query --format json returns one record per flow with its packets and IP-layer bytes', async () => {
    const r = await ok(['query', '--format', 'json', '--data-dir', dataDir, FLOW_QUERY]);
    const rows = jsonLines(r.stdout);
    assert.equal(rows.length, FLOWS.length, 'one record per flow');
    assert.deepEqual(sortedValues(await storedFlows(dataDir)), sortedValues(expected));
    for (const row of rows) {
      // The TCP flows closed with FIN; the other old flows went idle hours before the recent packets;
      // the recent flows were still open when the file ended.
      const flow = FLOWS.find((f) => f.src === row.src_addr && f.srcPort === row.src_port && f.protocol === row.proto)!;
      const reason = flow.protocol === TCP ? 'fin' : flow.agoSeconds === OLD_AGO_S ? 'idle' : 'end';
      assert.equal(row.end_reason, reason, `end_reason of ${flow.name}`);
    }
    const ping = rows.find((row) => row.proto === ICMP)!;
    assert.equal(ping.dst_port, 8 * 256, 'ICMP type*256+code in dst_port');
  });

  test('query --format csv is RFC 4180: a header, CRLF line ends, quoted fields where needed', async () => {
    const sql = `SELECT src_addr, dst_addr, packets, bytes, 'say "hi", then' || chr(10) || 'bye' AS note FROM flows ORDER BY bytes DESC, src_addr`;
    const csv = await ok(['query', '--format', 'csv', '--data-dir', dataDir, sql]);
    const json = await ok(['query', '--format', 'json', '--data-dir', dataDir, sql]);
    assert.ok(csv.stdout.endsWith('\r\n'));
    const records = parseCsv(csv.stdout);
    assert.deepEqual(records[0], ['src_addr', 'dst_addr', 'packets', 'bytes', 'note']);
    const expectedRows = jsonLines(json.stdout).map((row) => Object.values(row).map((v) => String(v)));
    assert.equal(expectedRows.length, FLOWS.length);
    assert.deepEqual(records.slice(1), expectedRows);
    // The one field with a quote, a comma and a line feed is quoted, its quote doubled (RFC 4180 §2.6, 2.7).
    assert.ok(csv.stdout.includes('"say ""hi"", then\nbye"'), csv.stdout);
  });

  test('query --format table aligns columns: text to the left, numbers to the right', async () => {
    const sql = 'SELECT src_addr, packets, bytes, end_reason FROM flows ORDER BY bytes DESC';
    const table = await ok(['query', '--format', 'table', '--data-dir', dataDir, sql]);
    const json = jsonLines((await ok(['query', '--format', 'json', '--data-dir', dataDir, sql])).stdout);
    const lines = table.stdout.split('\n').filter((l) => l !== '');
    assert.equal(lines[lines.length - 1], `(${FLOWS.length} rows)`);
    const dashes = lines[1];
    assert.match(dashes, /^-+( {2}-+)*$/);
    const spans = [...dashes.matchAll(/-+/g)].map((m) => ({ start: m.index, end: m.index + m[0].length }));
    const names = ['src_addr', 'packets', 'bytes', 'end_reason'];
    assert.equal(spans.length, names.length);
    const numeric = [false, true, true, false];
    const rows = [names, ...json.map((row) => names.map((n) => String(row[n])))];
    const body = [lines[0], ...lines.slice(2, -1)];
    assert.equal(body.length, rows.length);
    body.forEach((line, r) => {
      spans.forEach(({ start, end }, c) => {
        const cell = line.slice(start, end);
        assert.equal(cell.trim(), rows[r][c], `row ${r} column ${names[c]}: "${line}"`);
        if (r > 0 && numeric[c]) assert.ok(end === line.length || line[end] === ' ', `number right-aligned: "${line}"`);
        if (r > 0 && numeric[c]) assert.notEqual(cell[cell.length - 1], ' ', `number right-aligned: "${line}"`);
        if (r > 0 && !numeric[c]) assert.notEqual(cell[0], ' ', `text left-aligned: "${line}"`);
      });
    });
    // Every column is as wide as its widest cell.
    spans.forEach(({ start, end }, c) => assert.equal(end - start, Math.max(...rows.map((row) => row[c].length)), names[c]));
  });

  const flowsCases: [string, string[], string[]][] = [
    ['proto udp', ['proto', 'udp'], ['dns query', 'dns answer', 'dns over ipv6', 'bulk udp']],
    ['dst port 53', ['dst port 53'], ['dns query', 'dns over ipv6']],
    ['net 10.0.0.0/8 and not port 53', ['net 10.0.0.0/8 and not port 53'], ['https client', 'https server', 'ping', 'bulk udp']],
    ['no filter', [], FLOWS.map((f) => f.name)],
  ];
  for (const [label, filter, names] of flowsCases) {
    test(`flows ${label} lists exactly the matching flows`, async () => {
      const r = await ok(['flows', '--format', 'json', '--data-dir', dataDir, ...filter]);
      const got = jsonLines(r.stdout).map((row) => tupleKey(row as never)).sort();
      const want = FLOWS.filter((f) => names.includes(f.name))
        .map((f) => tupleKey({ proto: f.protocol, src_addr: f.src, src_port: f.srcPort, dst_addr: f.dst, dst_port: f.dstPort }))
        .sort();
      assert.deepEqual(got, want);
    });
  }

  test('flows --sort bytes orders by bytes, largest first; --limit keeps the first n', async () => {
    const byBytes = sortedValues(expected).sort((a, b) => b.bytes - a.bytes);
    const all = jsonLines((await ok(['flows', '--format', 'json', '--sort', 'bytes', '--data-dir', dataDir])).stdout);
    assert.deepEqual(all.map((row) => Number(row.bytes)), byBytes.map((e) => e.bytes));
    const two = jsonLines((await ok(['flows', '--format', 'json', '--sort', 'bytes', '--limit', '2', '--data-dir', dataDir])).stdout);
    assert.deepEqual(two.map((row) => tupleKey(row as never)), byBytes.slice(0, 2).map((e) => e.key));
    const table = await ok(['flows', '--sort', 'bytes', '--limit', '3', '--data-dir', dataDir, 'proto', 'tcp', 'or', 'proto', 'udp']);
    assert.match(table.stdout, /\(3 rows\)\n$/);
  });

  test('SELECT * FROM imports shows the import with its packets, flows and (no) issues', async () => {
    const rows = jsonLines((await ok(['query', '--format', 'json', '--data-dir', dataDir, 'SELECT * FROM imports'])).stdout);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].packets, PACKETS.length);
    assert.equal(rows[0].flows, FLOWS.length);
    assert.ok(String(rows[0].files).includes(capture), `files: ${String(rows[0].files)}`);
    assert.equal(issueCount(rows[0].issues, 'truncated_file'), 0);
  });

  test('the examples in query --help and flows --help run against a store', async () => {
    for (const verb of ['query', 'flows']) {
      const help = (await ok([verb, '--help'])).stdout;
      // The fleet form (--nats) needs a broker and agents: test/fleet/fleet-cli.test.ts runs it.
      const examples = help.slice(help.indexOf('Examples:')).split('\n').slice(1).filter((l) => l.trim().startsWith('endsight ') && !l.includes('--nats'));
      assert.ok(examples.length >= 2, `${verb} --help has examples`);
      for (const example of examples) {
        const args = shellWords(example.trim()).slice(1);
        const r = await endsight([...args, '--data-dir', dataDir]);
        assert.equal(r.code, 0, `${example}: ${r.stderr}`);
      }
    }
  });

  test('a pcapng file of the same packets gives the same flows', async () => {
    const ng = new PcapngBuilder().section().interface({ linkType: 1, tsresol: 6 });
    for (const p of PACKETS) ng.enhanced({ interfaceId: 0, timestamp: BigInt(p.timeUs), data: p.frame });
    const file = await writeTemp('seven-flows.pcapng', ng.bytes());
    const store = path.join(await tempDir(), 'store');
    await ok(['import', '--data-dir', store, file]);
    assert.deepEqual(sortedValues(await storedFlows(store)), sortedValues(expected));
  });

  test('--since and --between select flows by time', async () => {
    const recent = FLOWS.filter((f) => f.agoSeconds === RECENT_AGO_S).map((f) => f.name);
    const old = FLOWS.filter((f) => f.agoSeconds === OLD_AGO_S).map((f) => f.name);
    const keysOf = (names: string[]) =>
      FLOWS.filter((f) => names.includes(f.name))
        .map((f) => tupleKey({ proto: f.protocol, src_addr: f.src, src_port: f.srcPort, dst_addr: f.dst, dst_port: f.dstPort }))
        .sort();
    const iso = (agoS: number) => new Date((NOW_S - agoS) * 1000).toISOString();
    const cases: [string[], string[]][] = [
      [['--since', '1h'], recent],
      [['--since', '30m'], recent],
      [['--since', '6h'], [...recent, ...old]],
      [['--since', '5m'], []],
      [['--between', `${iso(6 * 3600)}/${iso(4 * 3600)}`], old],
      [['--between', `${iso(3600)}/`], recent],
      [['--between', `/${iso(3600)}`], old],
      [['--between', `${iso(2 * 3600)},${iso(3600)}`], []],
    ];
    for (const [i, [window, names]] of cases.entries()) {
      // `query` takes the same window options as `flows`: check it on the first two cases.
      for (const verb of i < 2 ? ['flows', 'query'] : ['flows']) {
        const args = verb === 'flows' ? ['flows', '--format', 'json', ...window] : ['query', '--format', 'json', ...window, FLOW_QUERY];
        const r = await ok([...args, '--data-dir', dataDir]);
        assert.deepEqual(jsonLines(r.stdout).map((row) => tupleKey(row as never)).sort(), keysOf(names), `${verb} ${window.join(' ')}`);
      }
    }
  });

  describe('bad input from people: exit code ≠ 0 and one line "endsight: …" naming the bad value', () => {
    /** [label, argv (the data dir is appended), text the message must contain] */
    const cases: [string, () => string[], (string | RegExp)[]][] = [
      ['--idle-timeout abc', () => ['import', '--idle-timeout', 'abc', capture], ['"abc"', '--idle-timeout']],
      ['--max-flows 0', () => ['import', '--max-flows', '0', capture], ['"0"', '--max-flows']],
      ['import --format xml', () => ['import', '--format', 'xml', capture], ['xml']],
      ['query --format xml', () => ['query', '--format', 'xml', 'SELECT 1'], ['xml']],
      ['flows --format xml', () => ['flows', '--format', 'xml'], ['xml']],
      ['flows --sort size', () => ['flows', '--sort', 'size'], ['size']],
      ['query "DELETE FROM flows"', () => ['query', 'DELETE FROM flows'], [/only SELECT/, 'DELETE']],
      ['query "SELEC 1"', () => ['query', 'SELEC 1'], [/syntax error/i, 'SELEC']],
      ['query of a column that does not exist', () => ['query', 'SELECT nosuchcolumn FROM flows'], ['nosuchcolumn']],
      ['flows port http', () => ['flows', 'port', 'http'], ['"http"']],
      ['flows --since 2x', () => ['flows', '--since', '2x'], ['"2x"', '--since']],
      ['query --since 2x', () => ['query', '--since', '2x', 'SELECT 1'], ['"2x"', '--since']],
      ['flows --between garbage', () => ['flows', '--between', 'garbage'], ['"garbage"', '--between']],
      ['flows --between with an end before the start', () => ['flows', '--between', '2026-11-02T00:00Z/2026-11-01T00:00Z'], ['2026-11-02T00:00Z/2026-11-01T00:00Z']],
      ['flows --between a/b', () => ['flows', '--between', 'yesterday/today'], ['"yesterday"']],
      ['--since together with --between', () => ['flows', '--since', '1h', '--between', '2026-11-01T00:00Z/2026-11-02T00:00Z'], ['--since', '--between']],
      ['flows --limit 0', () => ['flows', '--limit', '0'], ['"0"', '--limit']],
    ];
    let before_: Record<string, string> = {};

    before(async () => {
      before_ = await snapshot(dataDir);
    });

    for (const [label, argv, mentions] of cases) {
      test(label, async () => {
        const r = await endsight([...argv(), '--data-dir', dataDir]);
        assertUserError(r, mentions);
      });
    }

    test('after the failed commands the store is unchanged (same files, same bytes)', async () => {
      assert.ok(Object.keys(before_).some((f) => f.endsWith('.parquet')), 'the store holds segments');
      assert.deepEqual(await snapshot(dataDir), before_);
    });
  });
});

/** Asserts a failure for people: exit code ≠ 0, nothing on stdout, one stderr line "endsight: …" with each of `mentions`. */
function assertUserError(r: RunResult, mentions: (string | RegExp)[]): void {
  assert.notEqual(r.code, 0, `exit code ${r.code}; stdout ${r.stdout}`);
  assert.notEqual(r.code, null, `killed by ${r.signal}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.split('\n');
  assert.equal(lines.length, 2, `exactly one line on stderr, got:\n${r.stderr}`);
  assert.equal(lines[1], '');
  assert.match(lines[0], /^endsight: \S/);
  assert.doesNotMatch(lines[0], /internal error/);
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(lines[0].includes(m), `"${lines[0]}" does not mention ${m}`);
    else assert.match(lines[0], m);
  }
}

describe('endsight import of files that are not captures', () => {
  const cases: [string, () => Promise<string>, (file: string) => (string | RegExp)[]][] = [
    ['a text file', () => writeTemp('notes.txt', 'hello, this is not a capture\n'), (f) => [JSON.stringify(f), /expected a pcap or pcapng file/]],
    ['a missing file', async () => path.join(await tempDir(), 'missing.pcap'), (f) => [JSON.stringify(f), /no such file/i]],
    ['an empty file', () => writeTemp('empty.pcap', ''), (f) => [JSON.stringify(f), /empty/]],
    ['a directory', () => tempDir(), (f) => [JSON.stringify(f)]],
    ['a gzip file holding text', () => writeTemp('notes.txt.gz', gzipSync('hello, this is not a capture\n')), (f) => [JSON.stringify(f), /gzip/]],
  ];
  for (const [label, make, mentions] of cases) {
    test(`${label}: exit ≠ 0, one line naming the file, nothing stored`, async () => {
      const file = await make();
      const store = path.join(await tempDir(), 'store');
      const r = await endsight(['import', '--data-dir', store, file]);
      assertUserError(r, mentions(file));
      assert.deepEqual(await filesUnder(store, '.parquet'), [], 'no segment');
      assert.deepEqual(await filesUnder(path.join(store, 'imports'), '.json'), [], 'no import recorded');
    });
  }

  test('a bad file among good ones: nothing of the good ones is stored either', async () => {
    const good = await writeTemp('good.pcap', PCAP);
    const bad = await writeTemp('bad.pcap', 'not a capture');
    const store = path.join(await tempDir(), 'store');
    const r = await endsight(['import', '--data-dir', store, good, bad]);
    assertUserError(r, [JSON.stringify(bad)]);
    assert.deepEqual(await filesUnder(store, '.parquet'), []);
  });
});

describe('endsight import of damaged captures', () => {
  /** Byte offset where pcap record `i` starts (24-byte file header, 16-byte record headers). */
  const recordOffset = (i: number) => 24 + PACKETS.slice(0, i).reduce((sum, p) => sum + 16 + p.frame.length, 0);

  test('a capture cut in the middle of a record: exit 0, everything before the cut stored, truncated_file reported', async () => {
    const cutRecord = 15;
    const cutAt = recordOffset(cutRecord) + 16 + 10; // header and 10 bytes of the frame
    assert.ok(cutAt < recordOffset(cutRecord + 1));
    const file = await writeTemp('cut.pcap', PCAP.subarray(0, cutAt));
    const store = path.join(await tempDir(), 'store');
    const r = await ok(['import', '--format', 'json', '--data-dir', store, file]);
    const summary = JSON.parse(r.stdout) as { packets: number; issues: Record<string, number> };
    assert.equal(summary.packets, cutRecord);
    assert.deepEqual(summary.issues, { truncated_file: 1 });
    assert.deepEqual(sortedValues(await storedFlows(store)), sortedValues(expectedFrom(PACKETS.slice(0, cutRecord))));
    const text = await ok(['import', '--data-dir', path.join(await tempDir(), 'store'), file]);
    assert.match(text.stdout, /truncated_file\s+1\b/);
    const imports = jsonLines((await ok(['query', '--format', 'json', '--data-dir', store, 'SELECT * FROM imports'])).stdout);
    assert.equal(imports.length, 1);
    assert.equal(issueCount(imports[0].issues, 'truncated_file'), 1, `imports.issues: ${String(imports[0].issues)}`);
  });

  test('a record header whose caplen is over 256 KiB: that record skipped and counted, the rest stored', async () => {
    const liar = 9;
    const records = pcapRecords(PACKETS);
    records[liar] = { ...records[liar], caplen: 256 * 1024 + 1 };
    const file = await writeTemp('liar.pcap', buildPcap({}, records));
    const store = path.join(await tempDir(), 'store');
    const r = await ok(['import', '--format', 'json', '--data-dir', store, file]);
    const summary = JSON.parse(r.stdout) as { packets: number; issues: Record<string, number> };
    assert.deepEqual(summary.issues, { caplen_exceeds_limit: 1 });
    assert.equal(summary.packets, PACKETS.length - 1);
    const rest = PACKETS.filter((_, i) => i !== liar);
    assert.deepEqual(sortedValues(await storedFlows(store)), sortedValues(expectedFrom(rest)));
    const imports = jsonLines((await ok(['query', '--format', 'json', '--data-dir', store, 'SELECT * FROM imports'])).stdout);
    assert.equal(issueCount(imports[0].issues, 'caplen_exceeds_limit'), 1, `imports.issues: ${String(imports[0].issues)}`);
  });
});

describe('endsight import of compressed captures', () => {
  test('gzip- and zstd-compressed captures give the same flows as the plain file', async () => {
    const zstd = spawnSync('zstd', ['-q', '-c'], { input: PCAP, maxBuffer: 64 << 20 });
    if (zstd.error || zstd.status !== 0) {
      assert.fail(`cannot run the zstd binary (${zstd.error?.message ?? zstd.stderr.toString()}): apt-get install zstd`);
    }
    const files = {
      plain: await writeTemp('seven.pcap', PCAP),
      gzip: await writeTemp('seven.pcap.gz', gzipSync(PCAP)),
      zstd: await writeTemp('seven.pcap.zst', zstd.stdout),
    };
    const results: Record<string, Expected[]> = {};
    for (const [kind, file] of Object.entries(files)) {
      const store = path.join(await tempDir(), 'store');
      const r = await ok(['import', '--format', 'json', '--data-dir', store, file]);
      const summary = JSON.parse(r.stdout) as { packets: number; issues: Record<string, number> };
      assert.equal(summary.packets, PACKETS.length, kind);
      assert.deepEqual(summary.issues, {}, kind);
      results[kind] = sortedValues(await storedFlows(store));
    }
    assert.deepEqual(results.plain, sortedValues(expectedFrom(PACKETS)));
    assert.deepEqual(results.gzip, results.plain);
    assert.deepEqual(results.zstd, results.plain);
  });
});

/**
 * The count of `reason` in an `issues` cell of the imports table: a JSON object, or DuckDB's text form
 * of a struct or map (`{'truncated_file': 1}`); 0 when the reason is absent.
 */
function issueCount(cell: unknown, reason: string): number {
  if (cell !== null && typeof cell === 'object') return Number((cell as Record<string, unknown>)[reason] ?? 0);
  const text = String(cell);
  assert.match(text, /^\{.*\}$/, `issues cell ${text}`);
  const m = new RegExp(`['"]?${reason}['"]?\\s*[:=]\\s*(\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

/** A strict RFC 4180 parser (CRLF records, quoted fields with doubled quotes). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let i = 0;
  while (i < text.length) {
    const record: string[] = [];
    for (;;) {
      let field = '';
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) throw new Error('unterminated quoted field');
          if (text[i] === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
            } else {
              i++;
              break;
            }
          } else {
            field += text[i++];
          }
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') {
          if (text[i] === '"') throw new Error(`bare quote in an unquoted field at ${i}`);
          field += text[i++];
        }
      }
      record.push(field);
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text.startsWith('\r\n', i)) {
        i += 2;
        break;
      }
      throw new Error(`expected , or CRLF at ${i}, found ${JSON.stringify(text.slice(i, i + 5))}`);
    }
    records.push(record);
  }
  return records;
}

/** Splits a command line the way a POSIX shell does for plain words and '…' / "…" quoting. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === ' ') {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === '"' || c === "'") {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unbalanced ${c} in ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}
