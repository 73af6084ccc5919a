/**
 * Fleet queries from the command line, end to end: `endsight keys init`, a real nats-server on
 * loopback, two real `endsight agent --nats … --authority …` processes (as root: supervisor, worker,
 * capture and socket events programs) with the repository's sample capture imported under different
 * host names, and `endsight query --nats … --sign-key …`. The merged answer equals the two local
 * answers together; a site target reaches one agent; a query signed by another key is refused by both.
 * Last, the console's Query tab in chromium asks the same fleet, then names the agent that was killed;
 * its Fleet tab lists both agents with their health, and marks the killed one once it is silent; its
 * Alerts tab shows a standing query registered on both and the alerts of its periods.
 * Needs root, nats-server and chromium.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { chromium } from 'playwright-core';
import { loadKey, signQuery } from '../../src/fleet/signed-query.js';
import { Lab, requirePrograms, type BackgroundProcess } from '../../src/lab/netns.js';
import { freeTcpPort } from '../../src/common/free-port.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');
const SAMPLE = path.join(REPO_ROOT, 'samples', 'sample.pcap.gz');
const SQL = "SELECT host, count(*) AS n, sum(bytes) AS b FROM flows WHERE source LIKE 'pcap:%' GROUP BY host ORDER BY host";

function endsight(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('endsight query --nats against two agents', { timeout: 180_000 }, () => {
  const lab = new Lab(`es-fleetcli-${process.pid}`);
  let dir = '';
  let url = '';
  const agents: BackgroundProcess[] = [];
  let healthPort = 0;

  before(async () => {
    requirePrograms({ 'nats-server': 'nats-server' });
    if (process.getuid?.() !== 0) assert.fail('this test runs the agent, which needs root');
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-fleetcli-'));
    spawnSync('chmod', ['755', dir]); // the agents' unprivileged workers must reach their stores
    assert.equal(endsight(['keys', 'init', '--dir', path.join(dir, 'keys')]).status, 0);
    const port = await freeTcpPort();
    url = `nats://127.0.0.1:${port}`;
    const server = lab.start('nats-server', ['nats-server', '-a', '127.0.0.1', '-p', String(port)]);
    await server.waitForOutput(/Server is ready/);
    healthPort = await freeTcpPort();
    for (const [id, site] of [['alpha', 'north'], ['beta', 'south']]) {
      const dataDir = path.join(dir, id);
      const imported = endsight(['import', SAMPLE, '--data-dir', dataDir, '--host', id, '--quiet']);
      assert.equal(imported.status, 0, imported.stderr);
      // Short flow timeouts: a standing query's period is run once its flows are stored (idle timeout + export interval + 5 s).
      const config = path.join(dir, `${id}.yaml`);
      writeFileSync(config, 'flows:\n  idle_timeout: 1s\n  export_interval: 1s\n');
      const agent = lab.start(`agent ${id}`, [
        // Capture next to nothing but what the runaway-query test sends to UDP port 9; alpha serves its health.
        process.execPath, BIN, 'agent', '--data-dir', dataDir, '--config', config, '--health', id === 'alpha' ? `127.0.0.1:${healthPort}` : 'off', '--filter', 'udp port 9',
        '--nats', url, '--authority', path.join(dir, 'keys', 'authority.pub'), '--id', id, '--site', site, '--tag', 'lab',
      ]);
      agents.push(agent);
    }
    for (const agent of agents) await agent.waitForOutput(/fleet: answering signed queries over NATS/, 60_000);
  });

  after(async () => {
    assert.deepEqual(await lab.cleanup(), []);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('merges both agents\' answers, as their two stores answer together', () => {
    const run = endsight(['query', '--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), '--format', 'json', SQL]);
    assert.equal(run.status, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as { rows: { host: string; n: number; b: number }[]; expected: string[]; answered: string[]; missing: string[]; failed: object };
    assert.deepEqual(answer.expected, ['alpha', 'beta']);
    assert.deepEqual(answer.answered, ['alpha', 'beta']);
    assert.deepEqual(answer.missing, []);
    assert.deepEqual(answer.failed, {});
    const local = ['alpha', 'beta'].flatMap((id) => endsight(['query', '--data-dir', path.join(dir, id), '--format', 'json', SQL]).stdout.trim().split('\n').map((line) => JSON.parse(line)));
    assert.deepEqual(answer.rows, local);
    assert.ok(answer.rows.every((row) => row.n > 0));
  });

  it('prints partial answers as JSON lines before the final one with --partial', () => {
    const run = endsight(['query', '--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), '--format', 'json', '--partial', SQL]);
    assert.equal(run.status, 0, run.stderr);
    const lines = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { partial: boolean; answered: string[]; rows: unknown[] });
    assert.equal(lines.at(-1)!.partial, false);
    assert.deepEqual(lines.at(-1)!.answered, ['alpha', 'beta']);
    for (const line of lines.slice(0, -1)) {
      assert.equal(line.partial, true);
      assert.equal(line.rows.length, line.answered.length, 'one row per host answered so far');
    }
    const table = endsight(['query', '--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), '--partial', SQL]);
    assert.equal(table.status, 1);
    assert.match(table.stderr, /^endsight: Cannot print partial answers as a table or CSV: --partial needs --format json\n$/);
  });

  it('asks one site, and prints a table with who answered', () => {
    const run = endsight(['query', '--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), '--target', 'site:south', SQL]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^host\s+n\s+b\n/);
    assert.match(run.stdout, /\nbeta\s/);
    assert.doesNotMatch(run.stdout, /alpha/);
    assert.match(run.stderr, /^1 of 1 hosts answered in \d+ ms\n$/);
  });

  it('is refused by every agent when signed with another key', async () => {
    assert.equal(endsight(['keys', 'init', '--dir', path.join(dir, 'other')]).status, 0);
    const run = endsight(['query', '--nats', url, '--sign-key', path.join(dir, 'other', 'authority.key'), '--format', 'json', SQL]);
    assert.equal(run.status, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as { rows: unknown[]; answered: string[]; failed: Record<string, string> };
    assert.deepEqual(answer.rows, []);
    assert.deepEqual(answer.answered, []);
    assert.deepEqual(Object.keys(answer.failed).sort(), ['alpha', 'beta']);
    for (const reason of Object.values(answer.failed)) assert.match(reason, /^bad_signature: /);
    // The audit line of each refusal (spawnSync held this process: read the agents' output now).
    for (const agent of agents) await agent.waitForOutput(/"audit":"query refused","code":"bad_signature"/, 5000);
  });

  it('keeps capturing and serving its health while a runaway query runs into its time limit', async () => {
    const packetsSeen = async (): Promise<number> => {
      const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
      return Number(/^endsight_packets_total (\d+)$/m.exec(metrics)?.[1]);
    };
    const before = await packetsSeen();
    // The coordinator's planner would refuse this query (a CTE is not a flows query): sent as a
    // compromised coordinator would, signed and straight to the agent, it meets the agent's sandbox.
    const runaway = 'WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) AS n FROM t';
    const signKey = loadKey(readFileSync(path.join(dir, 'keys', 'authority.key'), 'utf8'), 'private', 'authority.key');
    const signed = signQuery(signKey, { query: runaway, target: 'host:alpha', limits: { timeoutMs: 6000, maxRows: 10 }, issuer: 'test', audience: 'endsight' });
    const connection = await connect({ servers: url });
    try {
      const reply = connection.request('endsight.endsight.q.host.alpha', JSON.stringify(signed), { timeout: 10_000 });
      const socket = createSocket('udp4');
      const started = Date.now();
      while (Date.now() - started < 4500) {
        socket.send('endsight', 9, '127.0.0.1');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const during = await packetsSeen(); // the query is still running here (it is stopped at 6 s)
      socket.close();
      // A packet reaches the meter within about 3 s (the kernel ring's 1 s block timeout, then a
      // small batch is written every 2 s): most of the 4.5 s are counted by now.
      assert.ok(during - before >= 20, `the agent metered ${during - before} packets while the query ran`);
      const answer = JSON.parse(new TextDecoder().decode((await reply).data)) as { ok: boolean; code: string; error: string };
      assert.equal(answer.ok, false);
      assert.ok(answer.code === 'timeout' || /memory/i.test(answer.error), `${answer.code}: ${answer.error}`);
      assert.ok(Date.now() - started < 8000, 'stopped within the time limit');
    } finally {
      await connection.close();
    }
  });

  it('asks through site aggregators (endsight aggregator) and gets the same answer, one per site', async () => {
    const pub = path.join(dir, 'keys', 'authority.pub');
    const aggregators = ['north', 'south'].map((site) => lab.start(`aggregator ${site}`, [process.execPath, BIN, 'aggregator', '--nats', url, '--authority', pub, '--site', site]));
    try {
      for (const aggregator of aggregators) await aggregator.waitForOutput(/site aggregator: serving/, 20_000);
      const key = path.join(dir, 'keys', 'authority.key');
      const direct = endsight(['query', '--nats', url, '--sign-key', key, '--format', 'json', SQL]);
      const viaSites = endsight(['query', '--nats', url, '--sign-key', key, '--via', 'sites', '--format', 'json', SQL]);
      assert.equal(viaSites.status, 0, viaSites.stderr);
      const a = JSON.parse(direct.stdout) as { rows: unknown[] };
      const b = JSON.parse(viaSites.stdout) as { rows: unknown[]; answered: string[]; sites: { answered: string[] } };
      assert.deepEqual(b.rows, a.rows);
      assert.deepEqual(b.answered, ['alpha', 'beta']);
      assert.deepEqual(b.sites.answered, ['north', 'south']);
    } finally {
      for (const aggregator of aggregators) await aggregator.stop();
    }
  });

  it('watches a standing query: one merged result per period from both agents', () => {
    const key = path.join(dir, 'keys', 'authority.key');
    const run = endsight(['watch', '--nats', url, '--sign-key', key, '--every', '1s', '--count', '2', '--format', 'json', '--alert', 'flows >= 0', 'SELECT count(*) AS flows FROM flows']);
    assert.equal(run.status, 0, run.stderr);
    const periods = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { answered: string[]; expected: string[]; rows: { flows: number }[]; alerts: unknown[]; periodStart: string; periodEnd: string });
    assert.equal(periods.length, 2);
    for (const period of periods) {
      assert.deepEqual([period.expected, period.answered], [['alpha', 'beta'], ['alpha', 'beta']]);
      assert.equal(period.rows.length, 1);
      assert.equal(period.alerts.length, 1, 'flows >= 0 holds for the one row');
      assert.equal(Date.parse(period.periodEnd) - Date.parse(period.periodStart), 1000);
    }
    assert.match(run.stderr, /watch: registered on 2 hosts/);
    assert.match(run.stderr, /watch: ALERT /);
    const bad = endsight(['watch', '--nats', url, '--sign-key', key, '--every', '10ms', 'SELECT 1']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--every "10ms": the period must be/);
  });

  it("lets an analyst's key ask the templates of their certificate, and nothing else", () => {
    const alice = path.join(dir, 'alice');
    assert.equal(endsight(['keys', 'init', '--dir', alice]).status, 0);
    const cert = path.join(dir, 'alice.cert');
    const certified = endsight([
      'keys', 'certify', '--authority-key', path.join(dir, 'keys', 'authority.key'), '--analyst-key', path.join(alice, 'authority.pub'), '--name', 'alice',
      '--template', 'by-host=SELECT host, count(*) AS n, sum(bytes) AS b FROM flows WHERE source LIKE $source GROUP BY host ORDER BY host', '--out', cert,
    ]);
    assert.equal(certified.status, 0, certified.stderr);
    assert.match(certified.stdout, /alice may sign by-host until /);
    const asked = endsight(['query', '--nats', url, '--sign-key', path.join(alice, 'authority.key'), '--certificate', cert, '--template', 'by-host', '--param', 'source=pcap:%', '--format', 'json']);
    assert.equal(asked.status, 0, asked.stderr);
    const direct = endsight(['query', '--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), '--format', 'json', SQL]);
    const a = JSON.parse(asked.stdout) as { rows: unknown[]; answered: string[] };
    assert.deepEqual(a.answered, ['alpha', 'beta']);
    assert.deepEqual(a.rows, (JSON.parse(direct.stdout) as { rows: unknown[] }).rows);
    // The analyst's key alone signs nothing the agents accept.
    const plain = endsight(['query', '--nats', url, '--sign-key', path.join(alice, 'authority.key'), '--format', 'json', SQL]);
    const failed = (JSON.parse(plain.stdout) as { failed: Record<string, string> }).failed;
    assert.deepEqual(Object.keys(failed).sort(), ['alpha', 'beta']);
    for (const reason of Object.values(failed)) assert.match(reason, /^bad_signature/);
    const wrong = endsight(['query', '--nats', url, '--sign-key', path.join(alice, 'authority.key'), '--certificate', cert, '--template', 'everything']);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /--template everything: the certificate has by-host/);
  });

  it("routes the fleet's traffic matrix over a network (topo links --nats), as each store's matrix added up", () => {
    // The sample's two endpoints on two routers one link apart.
    const network = path.join(dir, 'net.yaml');
    writeFileSync(network, [
      'routers:', '  - {id: 0.0.0.1, stubs: [{prefix: 10.77.0.1/32, cost: 1}]}', '  - {id: 0.0.0.2, stubs: [{prefix: 10.77.0.2/32, cost: 1}]}',
      'links:', '  - {a: 0.0.0.1, b: 0.0.0.2, cost: 10, subnet: 10.0.12.0/30}', '',
    ].join('\n'));
    const loads = (args: string[]): Record<string, number> => {
      const run = endsight(['topo', 'links', '--from', network, '--format', 'json', ...args]);
      assert.equal(run.status, 0, run.stderr);
      return Object.fromEntries(run.stdout.trim().split('\n').map((line) => JSON.parse(line) as { from: string; to: string; bytes: number }).map((r) => [`${r.from}>${r.to}`, r.bytes]));
    };
    const fleet = loads(['--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), '--between', '2026-11-22T00:00:00Z,2026-11-23T00:00:00Z']);
    const stores = ['alpha', 'beta'].map((id) => loads(['--flows', '--data-dir', path.join(dir, id)]));
    assert.deepEqual(Object.keys(fleet).sort(), ['0.0.0.1>0.0.0.2', '0.0.0.2>0.0.0.1']);
    for (const key of Object.keys(fleet)) assert.equal(fleet[key], stores[0][key] + stores[1][key], key);
    assert.ok(fleet['0.0.0.2>0.0.0.1'] > 0);
  });

  it('says what is wrong with the command line in one line', () => {
    const noKey = endsight(['query', '--nats', url, SQL]);
    assert.equal(noKey.status, 1);
    assert.match(noKey.stderr, /^endsight: Cannot ask the fleet without --sign-key/);
    const badTarget = endsight(['query', '--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), '--target', 'planet:mars', SQL]);
    assert.equal(badTarget.status, 1);
    assert.match(badTarget.stderr, /^endsight: Unknown target "planet:mars"/);
    const unmergeable = endsight(['query', '--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), "SELECT string_agg(host, ',') FROM flows"]);
    assert.equal(unmergeable.status, 1);
    assert.match(unmergeable.stderr, /^endsight: Cannot split the query: .*string_agg/);
  });

  // Last: it kills an agent.
  it("answers the console's Query tab from both agents, then names the one that was killed", async () => {
    requirePrograms({ chromium: 'chromium' });
    const network = path.join(dir, 'console-net.yaml');
    writeFileSync(network, ['routers:', '  - {id: 0.0.0.1}', '  - {id: 0.0.0.2}', 'links:', '  - {a: 0.0.0.1, b: 0.0.0.2, cost: 10, subnet: 10.0.12.0/30}', ''].join('\n'));
    // A standing query whose condition holds every period: each period is an alert, with who answered.
    const alerts = path.join(dir, 'alerts.yaml');
    writeFileSync(alerts, ['- name: flows-seen', '  every: 2s', '  sql: SELECT count(*) AS n FROM flows', '  alert: n >= 0', ''].join('\n'));
    const server = lab.start('console', [
      process.execPath, BIN, 'console', '--from', network, '--nats', url, '--sign-key', path.join(dir, 'keys', 'authority.key'), '--alerts', alerts,
      '--between', '2026-11-22T00:00:00Z,2026-11-23T00:00:00Z', '--timeout', '2s', '--http', '127.0.0.1:0', '--token', 'fleet-console-token',
    ]);
    await server.waitForOutput(/the console is on (\S+)/, 60_000);
    const consoleUrl = /the console is on (\S+)/.exec(server.stderr)![1];
    const local = (id: string): string[][] =>
      endsight(['query', '--data-dir', path.join(dir, id), '--format', 'json', SQL]).stdout.trim().split('\n').map((line) => Object.values(JSON.parse(line) as object).map(String));
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(consoleUrl);
      await page.locator('button.tab[data-tab="query"]').click();
      await page.locator('#q-sql').fill(SQL);
      const run = async (): Promise<string[][]> => {
        await page.locator('#q-run').click();
        await page.waitForSelector('body[data-query="done"]', { timeout: 30_000 });
        return page.locator('#q-result tr').evaluateAll((rows) => rows.slice(1).map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      };
      assert.deepEqual(await run(), [...local('alpha'), ...local('beta')]);
      assert.match(await page.locator('#q-status').innerText(), /; 2 of 2 hosts answered$/);
      assert.equal(await page.locator('#q-missing').count(), 0);

      // The Fleet tab: both agents with their sites and the health their heartbeats carry.
      const fleetRows = async (): Promise<{ cells: string[]; stale: boolean }[]> => {
        await page.evaluate('delete document.body.dataset.fleet');
        await page.locator('#fleet-refresh').click();
        await page.waitForSelector('body[data-fleet="done"]', { timeout: 30_000 });
        return page.locator('#fleet-hosts tr.host').evaluateAll((rows) => rows.map((r) => ({ cells: [...r.querySelectorAll('td')].map((td) => td.textContent ?? ''), stale: r.classList.contains('stale') })));
      };
      await page.locator('button.tab[data-tab="fleet"]').click();
      const heard = await fleetRows();
      assert.deepEqual(heard.map((r) => [r.cells[0], r.cells[1], r.stale]), [['alpha', 'north', false], ['beta', 'south', false]]);
      for (const row of heard) {
        assert.match(row.cells[4], /^\d/, `packets of ${row.cells[0]}: ${row.cells.join(' | ')}`);
        assert.equal(row.cells[13], '0', 'no privacy policy');
      }
      assert.deepEqual(await page.locator('#fleet-sites tr').evaluateAll((rows) => rows.slice(1).map((r) => [...r.querySelectorAll('td')].slice(0, 3).map((td) => td.textContent))), [['north', '1', '1'], ['south', '1', '1']]);
      await page.screenshot({ path: path.join(tmpdir(), 'endsight-console-screenshots', 'fleet.png') });

      // The Alerts tab: the standing query registered on both agents, and its periods' alerts.
      await page.locator('button.tab[data-tab="alerts"]').click();
      await page.waitForSelector('#al-alerts tr.alert', { timeout: 40_000 });
      const watch = await page.locator('#al-watches tr:nth-child(2) td').allInnerTexts();
      assert.deepEqual([watch[0], watch[1], watch[2], watch[3], watch[4]], ['flows-seen', '2 s', 'n >= 0', 'watching', '2']);
      for (const row of await page.locator('#al-alerts tr.alert').all()) {
        const fired = await row.locator('td').allInnerTexts();
        assert.equal(fired[0], 'flows-seen');
        assert.match(fired[3], /^\{"n":\d+\}$/);
        assert.equal(fired[4], '2 of 2', 'every period expects and hears both agents');
      }
      await page.screenshot({ path: path.join(tmpdir(), 'endsight-console-screenshots', 'alerts.png') });
      await page.locator('button.tab[data-tab="query"]').click();

      await agents[1].stop('SIGKILL');
      assert.deepEqual(await run(), local('alpha'));
      assert.match(await page.locator('#q-status').innerText(), /; 1 of 2 hosts answered$/);
      assert.equal(await page.locator('#q-missing').innerText(), 'no answer from beta');
      await page.screenshot({ path: path.join(tmpdir(), 'endsight-console-screenshots', 'query-fleet.png') });
      // Beta's heartbeats have stopped: the Fleet tab marks it once it has been silent for 10 s.
      await page.locator('button.tab[data-tab="fleet"]').click();
      const deadline = Date.now() + 20_000;
      let rows = await fleetRows();
      while (!rows.find((r) => r.cells[0] === 'beta')?.stale && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        rows = await fleetRows();
      }
      assert.deepEqual(rows.map((r) => [r.cells[0], r.stale]), [['alpha', false], ['beta', true]]);
      assert.match(await page.locator('#fleet-status').innerText(), /^2 agents, 1 silent for more than 10 s$/);
    } finally {
      await browser.close();
      await server.stop();
    }
  });
});
