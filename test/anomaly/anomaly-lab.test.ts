/**
 * Issue 9's test of anomaly detection: real lab traffic with a port scan, an exfiltration burst and a
 * never-seen application injected, scored against weeks of history; precision and recall printed
 * and asserted, and false positives counted on a control hour of normal traffic only and on a day of
 * synthetic hours.
 *
 * Two network namespaces joined by a veth pair: A is the monitored host (the client), B runs the
 * servers (HTTP on tcp/8080, iperf3 on tcp/5201, a DNS-like responder on udp/53, and a sink on
 * tcp/7777 that normal traffic never uses). tcpdump records A's interface; `endsight import` stores it.
 *
 * History cannot be recorded live: a first run of the normal traffic is the template of four weeks of
 * past hours (synthetic-history.ts: diurnal and weekly pattern, noise), written into three stores.
 * Then the control hour (normal traffic again) goes into one, and an injected hour (normal traffic
 * plus the three anomalies) into each of the others: large injections (a scan of 400 ports, 40 MB
 * uploaded, 500 kB to a new port) and small ones, a few times the floors (30 ports, 400 KiB,
 * 200 kB); `endsight anomalies` scores the current hour of each.
 *
 * Needs root and the Debian packages tcpdump, iproute2, iperf3, curl, python3, ethtool.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab, requirePrograms, runCommand, sleep, type Netns } from '../../src/lab/netns.js';
import type { FlowRecord } from '../../src/flow/index.js';
import { QueryEngine, type CellValue } from '../../src/query/index.js';
import { anomaliesSql } from '../../src/anomaly/anomaly-query.js';
import { historyRecords, HOUR_US, writeRecords } from '../../src/anomaly/synthetic-history.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/anomaly → repository root
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');
const A4 = '10.78.0.1';
const B4 = '10.78.0.2';
const HOST = 'lab-a';

/** The lab's servers and clients (python3, standard library only). */
const PROGRAMS = String.raw`
import http.server, socket, sys, time
mode = sys.argv[1]
if mode == 'http':
    body = b'x' * 20000
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
        def do_POST(self):
            left = int(self.headers.get('Content-Length', 0))
            while left > 0:
                chunk = self.rfile.read(min(left, 65536))
                if not chunk: break
                left -= len(chunk)
            self.send_response(204); self.end_headers()
        def log_message(self, *args): pass
    server = http.server.ThreadingHTTPServer(('0.0.0.0', int(sys.argv[2])), Handler)
    print('serving', flush=True); server.serve_forever()
elif mode == 'dns':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', int(sys.argv[2])))
    print('serving', flush=True)
    while True:
        data, peer = s.recvfrom(2048); s.sendto(data + b'\x00' * 100, peer)
elif mode == 'sink':
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', int(sys.argv[2]))); s.listen(16)
    print('serving', flush=True)
    while True:
        c, _ = s.accept()
        while c.recv(65536): pass
        c.close()
elif mode == 'dns-client':
    host, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
        s.sendto(b'query %d example.org' % i, (host, port)); s.recvfrom(2048); s.close()
elif mode == 'scan':
    host, first, last = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for port in range(first, last + 1):
        s = socket.socket(); s.settimeout(0.5)
        try: s.connect((host, port))
        except OSError: pass
        s.close()
elif mode == 'send':
    host, port, size, conns = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    for i in range(conns):
        s = socket.create_connection((host, port)); s.sendall(b'y' * size); s.close()
`;

describe('anomaly detection on lab traffic', { timeout: 600_000 }, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let work: string;
  let programs: string;

  before(async () => {
    requirePrograms({ tcpdump: 'tcpdump', ip: 'iproute2', iperf3: 'iperf3', curl: 'curl', python3: 'python3', ethtool: 'ethtool' });
    lab = new Lab(`es-anom-${process.pid}`);
    work = await mkdtemp(path.join(tmpdir(), 'endsight-anomaly-lab-'));
    await chmod(work, 0o755);
    programs = path.join(work, 'lab_programs.py');
    await writeFile(programs, PROGRAMS);
    for (const [size, { upload }] of Object.entries(sizes)) await writeFile(path.join(work, `upload-${size}.bin`), Buffer.alloc(upload, 7));
    ({ a, b } = await lab.addHostPair({ a4: A4, b4: B4 }));
    const servers = [
      lab.start('http server', b.exec(['python3', '-u', programs, 'http', '8080'])),
      lab.start('dns-like server', b.exec(['python3', '-u', programs, 'dns', '53'])),
      lab.start('sink on a new port', b.exec(['python3', '-u', programs, 'sink', '7777'])),
    ];
    const iperf = lab.start('iperf3 server', b.exec(['iperf3', '-s', '-p', '5201', '--forceflush']));
    await Promise.all([...servers.map((s) => s.waitForOutput(/serving/)), iperf.waitForOutput(/Server listening/)]);
  });

  after(async () => {
    const problems = await lab?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
    assert.deepEqual(problems ?? [], [], 'lab cleanup');
  });

  /** What the host does in a normal hour: web requests, a bulk transfer, name lookups. */
  async function normalTraffic(): Promise<void> {
    for (let i = 0; i < 20; i++) await runCommand(a.exec(['curl', '-s', '-o', '/dev/null', `http://${B4}:8080/page-${i}`]));
    await runCommand(a.exec(['iperf3', '-c', B4, '-p', '5201', '-n', '4M']));
    await runCommand(a.exec(['python3', programs, 'dns-client', B4, '53', '30']));
  }

  /** The three injections, large (far above the floors) or small (a few times the floors). */
  const sizes = { large: { ports: 400, upload: 40 * 1024 * 1024, newBytes: 500_000 }, small: { ports: 30, upload: 400 * 1024, newBytes: 200_000 } };
  const injections = {
    /** A TCP connect scan (closed ports answer with a reset). */
    scan: (size: keyof typeof sizes) => runCommand(a.exec(['python3', programs, 'scan', B4, '1', String(sizes[size].ports)])),
    /** A file posted to the web server, which usually only serves pages. */
    exfiltration: (size: keyof typeof sizes) => runCommand(a.exec(['curl', '-s', '-o', '/dev/null', '--data-binary', `@${path.join(work, `upload-${size}.bin`)}`, '-H', 'Content-Type: application/octet-stream', `http://${B4}:8080/upload`])),
    /** Bytes to a port this host has never used, over three connections. */
    newApplication: (size: keyof typeof sizes) => runCommand(a.exec(['python3', programs, 'send', B4, '7777', String(Math.round(sizes[size].newBytes / 3)), '3'])),
  };

  /** Records A's interface while `traffic` runs; returns the capture file. */
  async function capture(name: string, traffic: () => Promise<unknown>): Promise<string> {
    const file = path.join(work, `${name}.pcap`);
    const tcpdump = lab.start(`tcpdump ${name}`, a.exec(['tcpdump', '-i', 'a0', '-s', '128', '-B', '32768', '-w', file]));
    await tcpdump.waitForOutput(/listening on/);
    await traffic();
    await sleep(1000);
    await tcpdump.stop('SIGTERM');
    assert.match(tcpdump.stderr, /\b0 packets dropped by kernel/, `${name}: the capture is complete: ${tcpdump.stderr}`);
    return file;
  }

  async function importCapture(dataDir: string, file: string): Promise<void> {
    await runCommand(['node', BIN, 'import', '-q', '--data-dir', dataDir, '--host', HOST, '--retention', '400d', file]);
  }

  /** The store's flows as records, for the history's template. */
  async function recordsOf(dataDir: string): Promise<FlowRecord[]> {
    const engine = await QueryEngine.open(dataDir);
    try {
      const { rows } = await engine.all(
        'SELECT host, epoch_us(start_time), epoch_us(end_time), src_addr, dst_addr, src_port, dst_port, proto, packets, bytes, tcp_flags, interface, source FROM flows',
      );
      return rows.map((r) => ({
        host: String(r[0]), startUs: Number(r[1]), endUs: Number(r[2]), srcAddr: String(r[3]), dstAddr: String(r[4]), srcPort: Number(r[5]), dstPort: Number(r[6]),
        protocol: Number(r[7]), packets: Number(r[8]), bytes: Number(r[9]), tcpFlags: Number(r[10]), direction: 'unknown', endReason: 'idle', sampling: 1,
        interfaceName: r[11] === null ? null : String(r[11]), source: String(r[12]), process: null, pid: null, username: null, uid: null, container: null, command: null, tunnel: null,
      }));
    } finally {
      engine.close();
    }
  }

  /** `endsight anomalies` over one store and window, as JSON rows. */
  async function anomalies(dataDir: string, fromUs: number, toUs: number): Promise<Record<string, CellValue>[]> {
    const between = `${new Date(fromUs / 1000).toISOString()}/${new Date(toUs / 1000).toISOString()}`;
    const { stdout } = await runCommand(['node', BIN, 'anomalies', '--data-dir', dataDir, '--between', between, '--format', 'json', '--top', '100']);
    return stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, CellValue>);
  }

  it('finds the scan, the exfiltration and the new application; precision and recall; no false alarm on normal hours', async () => {
    // Every run must fall in one clock hour: the hour scored, whose history is the same hour in past weeks.
    const untilNextHour = HOUR_US / 1000 - (Date.now() % (HOUR_US / 1000));
    if (untilNextHour < 4 * 60_000) await sleep(untilNextHour + 2000);
    const hourUs = Math.floor((Date.now() * 1000) / HOUR_US) * HOUR_US;

    const templateStore = path.join(work, 'template');
    await importCapture(templateStore, await capture('template', normalTraffic));
    const template = await recordsOf(templateStore);
    assert.ok(template.length > 20, `the template hour has flows: ${template.length}`);

    const controlStore = path.join(work, 'control');
    const injectedStores = { large: path.join(work, 'injected-large'), small: path.join(work, 'injected-small') };
    for (const store of [controlStore, ...Object.values(injectedStores)]) await writeRecords(store, historyRecords(template, { hourStartUs: hourUs, days: 28, seed: 9 }));
    await importCapture(controlStore, await capture('control', normalTraffic));
    for (const size of ['large', 'small'] as const) {
      await importCapture(injectedStores[size], await capture(`injected-${size}`, async () => {
        await normalTraffic();
        for (const inject of Object.values(injections)) await inject(size);
      }));
    }
    assert.ok(Date.now() * 1000 < hourUs + HOUR_US, 'the runs ended in the hour they started');

    // Ground truth: what each injection must be reported as (the scan shows in the host's row '*': many applications at once).
    const truth: Record<keyof typeof injections, (r: Record<string, CellValue>) => boolean> = {
      scan: (r) => r.kind === 'scan' && r.pair === `${A4} <-> ${B4}`,
      exfiltration: (r) => r.app === 'tcp/8080' && r.kind === 'exfiltration',
      newApplication: (r) => r.app === 'tcp/7777' && r.kind === 'new_application',
    };
    let found = 0;
    let truePositives = 0;
    let reportedRows = 0;
    const missed: string[] = [];
    for (const size of ['large', 'small'] as const) {
      const reported = await anomalies(injectedStores[size], hourUs, hourUs + HOUR_US);
      for (const r of reported) console.log(`  ${size}: ${r.app} ${r.kind} score ${r.score} (${r.feature} ${r.observed} vs median ${r.median}, MAD ${r.mad}, ${r.baseline_periods} ${r.baseline} periods)`);
      for (const [name, matches] of Object.entries(truth)) if (reported.some(matches)) found++; else missed.push(`${size} ${name}`);
      truePositives += reported.filter((r) => Object.values(truth).some((matches) => matches(r))).length;
      reportedRows += reported.length;
    }
    const recall = found / (2 * Object.keys(truth).length);
    const precision = reportedRows === 0 ? 0 : truePositives / reportedRows;

    const control = await anomalies(controlStore, hourUs, hourUs + HOUR_US);
    const controlScored = (await anomaliesAll(controlStore, hourUs)).length;
    for (const r of control) console.log(`  control false positive: ${r.app} ${r.kind} score ${r.score}`);

    // A week of synthetic hours (the 168 before the lab's: nights, weekends), each scored against the weeks before it.
    let syntheticScored = 0;
    let syntheticFalse = 0;
    for (let h = 1; h <= 168; h++) {
      const rows = await anomaliesAll(controlStore, hourUs - h * HOUR_US);
      syntheticScored += rows.length;
      for (const r of rows.filter((row) => row.anomalous === true)) {
        syntheticFalse++;
        console.log(`  synthetic false positive: ${new Date((hourUs - h * HOUR_US) / 1000).toISOString()} ${r.app} ${r.kind} score ${r.score} (${r.feature} ${r.observed} vs median ${r.median}, MAD ${r.mad})`);
      }
    }
    console.log(
      `anomaly detection on lab traffic: recall ${recall.toFixed(2)} (${found} of 6 injections${missed.length > 0 ? `; missed ${missed.join(', ')}` : ''}), ` +
        `precision ${precision.toFixed(2)} (${truePositives} of ${reportedRows} rows); control hour: ${control.length} false positives of ${controlScored} rows scored; ` +
        `synthetic hours: ${syntheticFalse} false positives of ${syntheticScored} rows scored`,
    );
    assert.equal(recall, 1, `every injection found; missed: ${missed.join(', ')}`);
    assert.ok(precision >= 0.75, `precision ${precision}`);
    assert.deepEqual(control, [], 'no anomaly in the control hour');
    assert.ok(syntheticScored >= 168 * 4 && syntheticFalse <= syntheticScored * 0.02, `synthetic hours: ${syntheticFalse} of ${syntheticScored}`);
  });

  /** Every application scored in the hour starting at `fromUs`, with its score and whether it is anomalous. */
  async function anomaliesAll(dataDir: string, fromUs: number): Promise<Record<string, CellValue>[]> {
    const engine = await QueryEngine.open(dataDir);
    try {
      const sql = anomaliesSql({ fromUs, toUs: fromUs + HOUR_US }, 1000, true);
      const { columns, rows } = await engine.all(sql);
      return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i]])));
    } finally {
      engine.close();
    }
  }
});
