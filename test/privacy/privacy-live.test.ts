/**
 * The privacy policy on a real agent (issue 9, "filtered values never reach the disk, the logs,
 * crash output or the wire"), in two network namespaces the test creates: A runs the agent, a
 * nats-server (TLS, per-role credentials), endsight's IPFIX collector and a tcpdump of A's loopback
 * (the wire the agent's exports and fleet answers travel on); B serves HTTP on two addresses.
 *
 * Traffic with known values: a user the test creates (esprivuser) fetches /privacy-probe from B's
 * 10.79.0.2 and fd79::2, root fetches from B's 10.79.0.9 and pings it. Policy version 1 (a signed
 * file in the configuration) drops 10.79.0.8/29, removes command, uid and pid, pseudonymises user
 * and container, and truncates remote addresses to /24 and /48. Version 2, pushed over NATS, gives
 * hosts tagged `trusted` (this one) a section that keeps pid and answers fleet queries only with
 * groups of at least 3 flows.
 *
 * Then every byte under the store, the collector's store, the agent's output (its logs and anything
 * a crash would print) and the loopback capture is searched for the known values (as text and, on the
 * wire, as address bytes), and every stored value is read back through DuckDB (Parquet pages are
 * compressed, so a byte search alone would prove nothing there).
 *
 * Needs root and the Debian packages tcpdump, iproute2, curl, python3, nats-server, util-linux
 * (setpriv), passwd (useradd), iputils-ping.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab, requirePrograms, runCommand, sleep, type BackgroundProcess, type Netns } from '../../src/lab/netns.js';
import { startNats, type NatsLab } from '../../src/lab/nats-lab.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url)); // dist/test/privacy → repository root
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');
const USER = 'esprivuser';
const FLEET = 'lab';
const A4 = '10.79.0.1';
const B4 = '10.79.0.2';
const DROPPED4 = '10.79.0.9';
const A6 = 'fd79::1';
const B6 = 'fd79::2';

const POLICY_RULES = [
  '    drop:',
  '      - addr: 10.79.0.8/29',
  '    remove: [command, uid, pid]',
  '    pseudonymise: [username, container]',
  '    truncate:',
  '      remote_addr: { ipv4: 24, ipv6: 48 }',
];
const POLICY_V1 = ['version: 1', 'default:', ...POLICY_RULES.map((l) => l.slice(2))].join('\n') + '\n';
const POLICY_V2 = [
  'version: 2',
  'default:',
  ...POLICY_RULES.map((l) => l.slice(2)),
  'hosts:',
  '  - target: tag:trusted',
  '    policy:',
  ...POLICY_RULES.map((l) => '  ' + l).filter((l) => !l.includes('remove:')),
  '      remove: [command, uid]',
  '      min_group_size: 3',
].join('\n') + '\n';

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** The needles found in `bytes`, with where. */
function findIn(bytes: Buffer, where: string, needles: { name: string; bytes: Buffer }[]): string[] {
  return needles.filter((n) => bytes.includes(n.bytes)).map((n) => `${n.name} in ${where}`);
}

function ipv4Bytes(text: string): Buffer {
  return Buffer.from(text.split('.').map(Number));
}

describe('privacy policy on a live agent', { timeout: 240_000 }, () => {
  let lab: Lab;
  let a: Netns;
  let b: Netns;
  let work: string;
  let nats: NatsLab;
  let createdUser = false;

  before(async () => {
    requirePrograms({ tcpdump: 'tcpdump', ip: 'iproute2', curl: 'curl', python3: 'python3', 'nats-server': 'nats-server', setpriv: 'util-linux', useradd: 'passwd', ping: 'iputils-ping' });
    if (process.getuid?.() !== 0) assert.fail('this test runs the agent in network namespaces, which needs root');
    try {
      execFileSync('id', ['-u', USER], { stdio: 'ignore' });
    } catch {
      await runCommand(['useradd', '--system', '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
      createdUser = true;
    }
    lab = new Lab(`es-priv-${process.pid}`);
    work = await mkdtemp(path.join(tmpdir(), 'endsight-privacy-'));
    await chmod(work, 0o755); // the agent's unprivileged worker must reach its store
    ({ a, b } = await lab.addHostPair({ a4: A4, b4: B4, a6: A6, b6: B6 }));
    await runCommand(b.exec(['ip', 'addr', 'add', `${DROPPED4}/24`, 'dev', 'b0']));
    const http = lab.start('http server', b.exec(['python3', '-u', '-m', 'http.server', '--bind', '::', '8080', '--directory', REPO_ROOT]));
    await http.waitForOutput(/Serving HTTP/);
    nats = await startNats(lab, path.join(work, 'nats'), { fleet: FLEET, netns: a });
  });

  after(async () => {
    const problems = await lab?.cleanup();
    if (work) await rm(work, { recursive: true, force: true });
    if (createdUser) await runCommand(['userdel', USER], { allowFailure: true });
    assert.deepEqual(problems ?? [], [], 'lab cleanup');
  });

  async function endsightIn(ns: Netns, args: string[], allowFailure = false): Promise<{ stdout: string; stderr: string; code: number | null }> {
    return runCommand(ns.exec(['node', BIN, ...args]), { allowFailure });
  }

  async function storedRows(dataDir: string, sql: string): Promise<Record<string, unknown>[]> {
    const { stdout } = await runCommand(['node', BIN, 'query', '--data-dir', dataDir, '--format', 'json', sql]);
    return stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async function userFetches(url: string, times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      await runCommand(a.exec(['setpriv', '--reuid', USER, '--regid', 'nogroup', '--clear-groups', '--', 'curl', '-s', '-o', '/dev/null', url]));
    }
  }

  async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await sleep(500);
    }
  }

  it('keeps dropped, removed, pseudonymised and truncated values off the disk, the logs and the wire', async () => {
    const keys = path.join(work, 'keys');
    await runCommand(['node', BIN, 'keys', 'init', '--dir', keys]);
    await writeFile(path.join(work, 'v1.yaml'), POLICY_V1);
    await writeFile(path.join(work, 'v2.yaml'), POLICY_V2);
    await runCommand(['node', BIN, 'policy', 'sign', path.join(work, 'v1.yaml'), '--sign-key', path.join(keys, 'authority.key'), '--fleet', FLEET, '--out', path.join(work, 'v1.signed.json')]);

    const dataDir = path.join(work, 'store');
    const collected = path.join(work, 'collected');
    const wire = path.join(work, 'wire.pcap');
    // Everything on A's loopback, and the IPFIX export alone: it is plaintext, so addresses can be looked for as bytes too
    // (in the TLS of the fleet's NATS traffic, four given bytes turn up by chance now and then).
    const ipfixWire = path.join(work, 'ipfix.pcap');
    const tcpdump = lab.start('loopback tcpdump', a.exec(['tcpdump', '-i', 'lo', '-s', '0', '-U', '-w', wire]));
    const ipfixDump = lab.start('ipfix tcpdump', a.exec(['tcpdump', '-i', 'lo', '-s', '0', '-U', '-w', ipfixWire, 'udp port 4739']));
    const collector = lab.start('endsight collect', a.exec(['node', BIN, 'collect', '--listen', 'udp://127.0.0.1:4739', '--data-dir', collected, '--export-interval', '1s']));
    await Promise.all([tcpdump.waitForOutput(/listening on/), ipfixDump.waitForOutput(/listening on/), collector.waitForOutput(/collecting on/, 20_000)]);
    const config = path.join(work, 'agent.yaml');
    await writeFile(
      config,
      [
        'capture:', '  cpu_budget: 800%',
        'flows:', '  idle_timeout: 5s', '  fin_timeout: 1s', '  export_interval: 1s',
        'export:', '  - ipfix://127.0.0.1:4739',
        'privacy:', `  policy: ${path.join(work, 'v1.signed.json')}`, `  key_file: ${path.join(work, 'privacy.key')}`,
        'fleet:', `  nats: ${nats.serversFor('agent')}`, `  authority: ${path.join(keys, 'authority.pub')}`, `  name: ${FLEET}`, '  id: lab-a', '  tags: [trusted]',
        '  tls:', `    ca: ${nats.certificates!.caFile}`,
      ].join('\n') + '\n',
    );
    const agent: BackgroundProcess = lab.start('agent', a.exec(['node', BIN, 'agent', '--data-dir', dataDir, '--config', config, '--health', '127.0.0.1:19470']));
    await agent.waitForOutput(/capture started/, 30_000);
    await agent.waitForOutput(/fleet: answering signed queries over NATS/, 30_000);
    assert.match(agent.stderr, /privacy policy version 1 applied \(default\)/);
    assert.equal((await stat(path.join(work, 'privacy.key'))).mode & 0o777, 0o600, 'the key file is made, readable by root only');

    // Version 1: esprivuser to B (kept, transformed); root to the dropped address (never recorded).
    await userFetches(`http://${B4}:8080/privacy-probe`, 3);
    await userFetches(`http://[${B6}]:8080/privacy-probe`, 1);
    for (let i = 0; i < 2; i++) await runCommand(a.exec(['curl', '-s', '-o', '/dev/null', `http://${DROPPED4}:8080/privacy-probe`]));
    await runCommand(a.exec(['ping', '-c', '2', '-i', '0.2', DROPPED4]));
    await waitFor('the user\'s flows in the store', async () => (await storedRows(dataDir, `SELECT * FROM flows WHERE dst_port = 8080 AND dst_addr IN ('10.79.0.0', 'fd79::')`)).length >= 4);

    // Version 2 over NATS: this host is tagged trusted and gets that section.
    const push = await endsightIn(a, ['policy', 'push', path.join(work, 'v2.yaml'), '--sign-key', path.join(keys, 'authority.key'), '--fleet', FLEET,
      '--nats', nats.serversFor('coordinator'), '--nats-ca', nats.certificates!.caFile, '--format', 'json']);
    assert.deepEqual(JSON.parse(push.stdout), { host: 'lab-a', outcome: 'applied', version: 2, section: 'tag:trusted', error: null });
    const again = await endsightIn(a, ['policy', 'push', path.join(work, 'v1.signed.json'), '--fleet', FLEET, '--nats', nats.serversFor('coordinator'), '--nats-ca', nats.certificates!.caFile, '--format', 'json', '--wait', '4s'], true);
    assert.equal(again.code, 1, 'an older policy is refused');
    assert.match(JSON.parse(again.stdout).error, /version 1 is older than the applied version 2/);
    await userFetches(`http://${B4}:8080/privacy-probe`, 3);
    await waitFor('flows under version 2', async () => (await storedRows(dataDir, 'SELECT * FROM flows WHERE dst_port = 8080 AND pid IS NOT NULL')).length >= 3);

    // Fleet answers under min_group_size 3: only groups of 3 or more flows, as the store has them; no single flows.
    const ask = (sql: string) => endsightIn(a, ['query', '--nats', nats.serversFor('coordinator'), '--nats-ca', nats.certificates!.caFile, '--sign-key', path.join(keys, 'authority.key'), '--fleet', FLEET, '--format', 'json', sql], true);
    const grouped = await ask('SELECT dst_addr, dst_port, count(*) AS n FROM flows GROUP BY ALL ORDER BY n DESC, dst_addr, dst_port');
    assert.equal(grouped.code, 0, grouped.stderr);
    const fleetRows = (JSON.parse(grouped.stdout) as { rows: Record<string, unknown>[] }).rows;
    const localRows = await storedRows(dataDir, 'SELECT dst_addr, dst_port, count(*) AS n FROM flows GROUP BY ALL HAVING count(*) >= 3 ORDER BY n DESC, dst_addr, dst_port');
    assert.ok(localRows.length > 0 && fleetRows.length > 0);
    assert.deepEqual(fleetRows.map((r) => [r.dst_addr, r.dst_port]), localRows.map((r) => [r.dst_addr, r.dst_port]));
    assert.ok((await storedRows(dataDir, 'SELECT count(*) AS n FROM flows GROUP BY dst_addr, dst_port HAVING count(*) < 3')).length > 0, 'the store has smaller groups, left out');
    const single = await ask('SELECT src_addr, dst_addr, bytes FROM flows');
    assert.match(single.stdout + single.stderr, /privacy policy answers only aggregates/);

    const metrics = await runCommand(a.exec(['curl', '-s', 'http://127.0.0.1:19470/metrics']));
    assert.match(metrics.stdout, /^endsight_privacy_policy_version 2$/m);
    const dropped = Number(/^endsight_privacy_flows_dropped_total (\d+)$/m.exec(metrics.stdout)?.[1]);
    assert.ok(dropped >= 3, `dropped ${dropped}: two HTTP flows each way and the pings`);

    await agent.stop('SIGTERM', 20_000);
    assert.match(agent.stderr, /agent stopped; every flow stored/);
    await sleep(2000); // the collector's last export interval
    await collector.stop('SIGTERM', 10_000);
    await tcpdump.stop('SIGTERM', 5_000);
    await ipfixDump.stop('SIGTERM', 5_000);

    // What was stored: the user's flows, with every filtered field transformed.
    const kept = await storedRows(dataDir, `SELECT * FROM flows WHERE dst_port = 8080 OR src_port = 8080`);
    assert.ok(kept.length >= 14, `${kept.length} HTTP flows (7 connections, both ways)`);
    for (const row of kept) {
      assert.ok(row.dst_addr === '10.79.0.0' || row.src_addr === '10.79.0.0' || row.dst_addr === 'fd79::' || row.src_addr === 'fd79::', JSON.stringify(row));
      assert.ok(row.username === null || /^~[0-9a-f]{16}$/.test(String(row.username)), `username ${row.username}`);
      assert.ok(row.container === null || /^~[0-9a-f]{16}$/.test(String(row.container)), `container ${row.container}`);
      assert.equal(row.command, null);
      assert.equal(row.uid, null);
    }
    const pseudonyms = new Set(kept.filter((r) => r.process === 'curl').map((r) => r.username));
    assert.equal(pseudonyms.size, 1, `one user, one pseudonym: ${[...pseudonyms].join(', ')}`);
    assert.ok([...pseudonyms][0] !== null, 'the user is attributed, under a pseudonym');

    const needles = [USER, B4, DROPPED4, B6, 'privacy-probe'].map((name) => ({ name, bytes: Buffer.from(name) }));
    const wireNeedles = [...needles, { name: `${B4} (bytes)`, bytes: ipv4Bytes(B4) }, { name: `${DROPPED4} (bytes)`, bytes: ipv4Bytes(DROPPED4) }, { name: `${B6} (bytes)`, bytes: Buffer.from('fd790000000000000000000000000002', 'hex') }];
    const found: string[] = [];
    for (const dir of [dataDir, collected]) for (const file of await filesUnder(dir)) found.push(...findIn(await readFile(file), file, needles));
    found.push(...findIn(Buffer.from(agent.stdout + agent.stderr), "the agent's output", needles));
    found.push(...findIn(Buffer.from(collector.stdout + collector.stderr), "the collector's output", needles));
    const wireBytes = await readFile(wire);
    assert.ok(wireBytes.length > 10_000, `the loopback capture holds the exports and fleet traffic (${wireBytes.length} bytes)`);
    found.push(...findIn(wireBytes, 'the loopback wire', needles));
    const ipfixBytes = await readFile(ipfixWire);
    assert.ok(ipfixBytes.length > 1_000, `the IPFIX export was captured (${ipfixBytes.length} bytes)`);
    found.push(...findIn(ipfixBytes, 'the IPFIX export on the wire', wireNeedles));
    // The fleet's answers as the coordinator received them (on the wire they are under TLS).
    found.push(...findIn(Buffer.from(grouped.stdout + grouped.stderr + single.stdout + single.stderr), 'the fleet answers', needles));
    // Decoded: every value of every column, in both stores.
    for (const dir of [dataDir, collected]) {
      for (const row of await storedRows(dir, 'SELECT * FROM flows')) {
        const text = JSON.stringify(row);
        for (const n of needles) if (text.includes(n.name)) found.push(`${n.name} in a stored row of ${dir}: ${text}`);
      }
    }
    assert.deepEqual(found, []);
    const collectedRows = await storedRows(collected, `SELECT count(*) AS n FROM flows WHERE dst_addr IN ('10.79.0.0', 'fd79::') AND dst_port = 8080`);
    assert.ok(Number(collectedRows[0].n) >= 7, `the exported records of the 7 connections reached the collector, transformed: ${JSON.stringify(collectedRows)}`);
  });
});
