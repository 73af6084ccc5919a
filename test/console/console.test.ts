/**
 * The web console in a real browser: `endsight console` serves the small network of the topo tests
 * with a hand-made matrix; Debian's chromium, driven by playwright-core (headless, no download),
 * opens it with the access token. The map draws every link; a click on a link shows a breakdown that
 * sums to the link's load; the what-if of a link going down shows the load it moves. The query page
 * over a store of known records shows exactly the rows DuckDB gives for the same SQL, its chart and
 * its CSV download; a bad statement shows the engine's message. The API refuses requests without
 * the token, and its OpenAPI document names every endpoint it serves and nothing else.
 * Screenshots go to $TMPDIR/endsight-console-screenshots.
 * Needs chromium (installed by scripts/install-deps.sh --with-test-peers).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { requirePrograms } from '../../src/lab/netns.js';
import { HAND_DEMANDS, handTopology } from '../../src/topo/test-networks.js';
import { FlowStore } from '../../src/store/index.js';
import { FlowRecordBatch } from '../../src/flow/index.js';
import { testBatch } from '../../src/store/test-records.js';
import { startConsole } from '../../src/console/test-console.js';
import { historyRecords, HOUR_US, writeRecords } from '../../src/anomaly/synthetic-history.js';
import { connection, normalHour } from '../../src/anomaly/test-traffic.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { QueryEngine } from '../../src/query/index.js';

const SHOTS = path.join(tmpdir(), 'endsight-console-screenshots');
const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');

describe('the web console in chromium', { timeout: 120_000 }, () => {
  let dir = '';
  let served: Awaited<ReturnType<typeof startConsole>> | undefined;
  let browser: Browser;
  let consoleUrl = '';

  before(async () => {
    requirePrograms({ chromium: 'chromium' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-console-'));
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(path.join(dir, 'net.yaml'), JSON.stringify(handTopology()));
    // Carol's user name carries markup: the page must show it as text, never run it.
    const demands = HAND_DEMANDS.map((d) => (d.user === 'carol' ? { ...d, user: '<img src=x onerror=window.pwned=1>' } : d));
    writeFileSync(path.join(dir, 'm.csv'), 'src,dst,bytes,app,user\n' + demands.map((d) => `${d.src},${d.dst},${d.bytes},${d.app},${d.user}`).join('\n') + '\n');
    // The query page's store: 3,000 known records.
    const store = await FlowStore.open(path.join(dir, 'store'));
    store.append(testBatch(3000, Date.now() * 1000 - 3_600_000_000, 1_000_000));
    await store.flush();
    await store.close();
    served = await startConsole(['--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), '--data-dir', path.join(dir, 'store'), '--http', '127.0.0.1:0', '--token', 'console-test-token']);
    consoleUrl = served.url;
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  });

  after(async () => {
    await browser?.close();
    await served?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the API without the token', async () => {
    const base = consoleUrl.replace(/\/#token=.*$/, '');
    assert.equal((await fetch(`${base}/api/links`)).status, 401);
    assert.equal((await fetch(`${base}/api/links`, { headers: { authorization: 'Bearer console-test-token' } })).status, 200);
  });

  it('documents every endpoint it serves in its OpenAPI document, and only those', async () => {
    const base = consoleUrl.replace(/\/#token=.*$/, '');
    const auth = { authorization: 'Bearer console-test-token' };
    const document = (await (await fetch(`${base}/api/openapi.json`)).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.equal(document.openapi, '3.1.0');
    const index = (await (await fetch(`${base}/api`, { headers: auth })).json()) as { endpoints: Record<string, string> };
    const served = Object.keys(index.endpoints).map((key) => /\/api[^?\s]*/.exec(key)![0]);
    assert.deepEqual([...new Set(served)].sort(), Object.keys(document.paths).filter((p) => p !== '/api').sort());
    for (const [route, methods] of Object.entries(document.paths)) {
      const method = Object.keys(methods)[0].toUpperCase();
      const response = await fetch(`${base}${route}`, { method, headers: auth, body: method === 'POST' ? '{}' : undefined });
      assert.notEqual(response.status, 404, `${method} ${route}`);
      assert.notEqual(response.status, 405, `${method} ${route}`);
    }
    assert.equal((await fetch(`${base}/api/nothing`, { headers: auth })).status, 404);
  });

  it('answers a query with the rows the store holds, charts them, downloads them, and shows a bad statement\'s error', async () => {
    const sql = 'SELECT dst_port, count(*) AS flows, sum(bytes) AS bytes FROM flows GROUP BY dst_port ORDER BY bytes DESC';
    const engine = await QueryEngine.open(path.join(dir, 'store'));
    const expected = await engine.all(sql).finally(() => engine.close());
    assert.equal(expected.rows.length, 3, 'ports 53, 80 and 443');
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
    await page.goto(consoleUrl);
    await page.locator('button.tab[data-tab="query"]').click();
    await page.locator('#q-columns span', { hasText: 'community_id' }).waitFor();
    assert.equal(await page.locator('#map').isVisible(), false, 'one tab at a time');
    await page.locator('#q-sql').fill(sql);
    await page.locator('#q-run').click();
    await page.waitForSelector('body[data-query="done"]', { timeout: 30_000 });
    const shown = await page.locator('#q-result tr').evaluateAll((rows) => rows.slice(1).map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
    assert.deepEqual(shown, expected.rows.map((r) => r.map(String)));
    assert.match(await page.locator('#q-status').innerText(), /^3 rows in \d+ ms; 1 of 1 hosts answered/);
    assert.equal(await page.locator('#q-chart rect.bar').count(), 3);
    await page.screenshot({ path: path.join(SHOTS, 'query.png') });
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#q-csv').click()]);
    const csv = await (await import('node:fs/promises')).readFile((await download.path())!, 'utf8');
    assert.equal(csv, ['dst_port,flows,bytes', ...expected.rows.map((r) => r.join(','))].join('\r\n') + '\r\n');

    await page.locator('#q-sql').fill('SELECT nonsense FROM flows');
    await page.locator('#q-run').click();
    await page.waitForSelector('body[data-query="error"]');
    assert.match(await page.locator('#q-status').innerText(), /nonsense/);
    await page.close();
  });

  it('draws every link, breaks a clicked link down to its load, and shows a what-if', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(consoleUrl);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    // Six point-to-point directions and two across the LAN.
    assert.equal(await page.locator('line.link').count(), 8);
    assert.match(await page.locator('#status').innerText(), /4 routers, 8 links \(8 with traffic\)/);
    await page.screenshot({ path: path.join(SHOTS, 'map.png') });

    // r2→r3 carries 620 bytes: half of r1's 1,200 to r4 and half of the LAN host's 40.
    await page.locator('line.link[data-from="0.0.0.2"][data-to="0.0.0.3"]').dispatchEvent('click');
    await page.waitForSelector('#breakdown tr:nth-child(2)');
    const breakdown = page.locator('#breakdown');
    assert.equal(Number(await breakdown.getAttribute('data-total')), 620);
    assert.equal(Number(await breakdown.getAttribute('data-sum')), 620);
    assert.match(await breakdown.innerText(), /10\.1\.0\.5\s+600/);
    await page.locator('#by').selectOption('user');
    await page.locator('#breakdown', { hasText: 'alice' }).waitFor();
    assert.match(await breakdown.innerText(), /<img src=x onerror=window\.pwned=1>/, 'shown as text');
    assert.equal(await page.evaluate(() => (globalThis as { pwned?: number }).pwned), undefined, 'never run');
    await page.screenshot({ path: path.join(SHOTS, 'link.png') });

    // By pair, a row's click draws its path: r1's 1,200 bytes to r4 split over r1–r3 and the LAN to r2.
    await page.locator('#by').selectOption('pair');
    await page.locator('#breakdown', { hasText: '10.4.0.5' }).waitFor();
    await page.locator('#breakdown tr', { hasText: '10.1.0.5 10.4.0.5' }).first().click();
    await page.waitForSelector('#path[data-links]');
    const pathAnswer = (await (await fetch(`${consoleUrl.replace(/\/#token=.*$/, '')}/api/path?src=10.1.0.5&dst=10.4.0.5`, { headers: { authorization: 'Bearer console-test-token' } })).json()) as { links: { from: string; to: string; share: number }[] };
    const marked = await page.locator('line.link.path').evaluateAll((lines) => lines.map((l) => `${l.getAttribute('data-from')}>${l.getAttribute('data-to')}`).sort());
    assert.deepEqual(marked, pathAnswer.links.map((l) => `${l.from}>${l.to}`).sort());
    assert.ok(pathAnswer.links.some((l) => l.share === 0.5) && pathAnswer.links.some((l) => l.from === '0.0.0.3' && l.to === '0.0.0.4' && l.share === 1), JSON.stringify(pathAnswer));
    assert.match(await page.locator('#path').innerText(), /^10\.1\.0\.5 → 10\.4\.0\.5: .*0\.0\.0\.3 → 0\.0\.0\.4/);
    await page.screenshot({ path: path.join(SHOTS, 'path.png') });

    // A click on a router lists its links with their loads.
    await page.locator('g.router[data-router="0.0.0.3"]').dispatchEvent('click');
    await page.waitForSelector('#router-links[data-router="0.0.0.3"]');
    assert.equal(await page.locator('#router-links tr').count(), 1 + 6, "r3's six link directions");
    assert.match((await page.locator('#router-name').textContent()) ?? '', /^0\.0\.0\.3: 1\.5 k bytes out, 1\.5 k in$/);

    // r1–r3 down: r1→r2 over the LAN goes from 620 to 1,240 bytes.
    await page.locator('#whatif-link').selectOption('0.0.0.1,0.0.0.3');
    await page.locator('#whatif-run').click();
    await page.waitForSelector('#whatif[data-done="true"]');
    assert.match(await page.locator('#whatif').innerText(), /0\.0\.0\.1 → 0\.0\.0\.2\s+620\s+1\.2 k\s+\+620/);
    await page.screenshot({ path: path.join(SHOTS, 'whatif.png') });
    await page.close();
  });

  it('shows the coverage curve of the store, as endsight coverage computes it', async () => {
    const cli = spawnSync(process.execPath, [BIN, 'coverage', '--data-dir', path.join(dir, 'store'), '--format', 'json', '--cover', '0.9', '--trials', '50'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 0, cli.stderr);
    const expected = JSON.parse(cli.stdout) as { hosts: number; hosts_to_instrument: string[]; points: { k: number; bytes: number; random_bytes: { mean: number; low: number; high: number } }[]; apps: { app: string }[] };
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    await page.goto(consoleUrl);
    await page.locator('button.tab[data-tab="coverage"]').click();
    await page.waitForSelector('body[data-coverage="done"]', { timeout: 30_000 });
    await page.locator('#cov-cover').fill('0.9');
    await page.locator('#cov-run').click();
    await page.waitForSelector('body[data-coverage="done"]', { timeout: 30_000 });
    assert.equal(await page.locator('#cov-chart svg').count(), 1, 'the chart');
    const answer = await page.locator('#cov-cover-answer').innerText();
    assert.ok(answer.startsWith(`${expected.hosts_to_instrument.length} of ${expected.hosts} hosts see `), answer);
    const named = expected.hosts_to_instrument;
    assert.ok(answer.includes(`: ${named.slice(0, 20).join(', ')}${named.length > 20 ? ` and ${named.length - 20} more` : ''}`), answer);
    const rows = await page.locator('#cov-points tr').evaluateAll((trs) => trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    assert.ok(rows.length >= 11, `${rows.length} rows`);
    const pct = (x: number): string => (100 * x).toFixed(2) + '%';
    for (const row of rows) {
      const point = expected.points[Number(row[0])];
      assert.equal(row[2], pct(point.bytes), `best-first, k = ${row[0]}`);
      // Random choices come out of a seeded generator over the pairs in the order the engine returns
      // them, which varies: the page's mean must lie within the command's 95% interval.
      const mean = Number(row[4].replace('%', '')) / 100;
      assert.ok(mean >= point.random_bytes.low - 1e-4 && mean <= point.random_bytes.high + 1e-4, `random, k = ${row[0]}: ${mean} in [${point.random_bytes.low}, ${point.random_bytes.high}]`);
    }
    assert.deepEqual(await page.locator('#cov-apps tr td:first-child').allInnerTexts(), expected.apps.map((a) => a.app));
    await page.screenshot({ path: path.join(SHOTS, 'coverage.png'), fullPage: true });
    await page.close();
  });

  it('shows a what-if scenario and the traffic-engineering search, before and after side by side', async () => {
    const auth = { authorization: 'Bearer console-test-token' };
    const base = consoleUrl.replace(/\/#token=.*$/, '');
    const expected = (await (await fetch(`${base}/api/whatif?router-down=0.0.0.3&top=100000`, { headers: auth })).json()) as { links: { from: string; to: string; bytes: number; before_bytes: number; change_bytes: number }[] };
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(consoleUrl);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    await page.locator('button.tab[data-tab="whatif"]').click();
    await page.locator('#wi-router').selectOption('0.0.0.3');
    await page.locator('#wi-add-router').click();
    assert.equal(await page.locator('#wi-steps').innerText(), 'router-down 0.0.0.3');
    await page.locator('#wi-run').click();
    await page.waitForSelector('body[data-whatif="done"]', { timeout: 30_000 });
    const changed = expected.links.filter((l) => l.change_bytes !== 0);
    assert.ok(changed.length > 0);
    assert.equal(await page.locator('#wi-links tr').count(), changed.length + 1);
    // r3 down: everything to r4 is unroutable; r1→r2 over the LAN loses what it carried toward r3.
    for (const l of changed) {
      const after = page.locator(`#wi-after line.link[data-from="${l.from}"][data-to="${l.to}"]`).first();
      const before = page.locator(`#wi-before line.link[data-from="${l.from}"][data-to="${l.to}"]`).first();
      assert.equal(Number(await after.getAttribute('data-bytes')), l.bytes, `${l.from} → ${l.to} after`);
      assert.equal(Number(await before.getAttribute('data-bytes')), l.before_bytes, `${l.from} → ${l.to} before`);
    }
    assert.ok((await page.locator('#wi-after line.link[stroke-dasharray]').count()) >= 4, "r3's links drawn as down");
    await page.screenshot({ path: path.join(SHOTS, 'whatif-page.png') });
    await page.close();

    // The search, on a console with capacities: the costs endsight topo tune finds, routed at once.
    const graph = (await (await fetch(`${base}/api/graph`, { headers: auth })).json()) as { links: { from: string; to: string; from_address: string }[] };
    const caps = path.join(dir, 'caps.csv');
    // The r1→r3 interface is far too small: the search moves r1's traffic to r4 over the LAN.
    writeFileSync(caps, 'address,bps\n' + graph.links.map((l) => `${l.from_address},${l.from === '0.0.0.1' && l.to === '0.0.0.3' ? 1 : 100}`).join('\n') + '\n');
    const common = ['--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), '--capacity', caps, '--window', '1h'];
    const cli = spawnSync(process.execPath, [BIN, 'topo', 'tune', ...common, '--max-changes', '3', '--format', 'json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 0, cli.stderr);
    const changes = cli.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { router: string; toward: string; after_cost: number });
    assert.ok(changes.length > 0, cli.stderr);
    const tuned = await startConsole([...common, '--http', '127.0.0.1:0', '--token', 'tune-token']);
    try {
      const tunePage = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      await tunePage.goto(tuned.url);
      await tunePage.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      await tunePage.locator('button.tab[data-tab="whatif"]').click();
      await tunePage.locator('#wi-tune').click();
      await tunePage.waitForSelector('body[data-whatif="done"]', { timeout: 30_000 });
      assert.equal(await tunePage.locator('#wi-steps').innerText(), changes.map((c) => `cost ${c.router},${c.toward}=${c.after_cost}`).join('; '));
      assert.match(await tunePage.locator('#wi-status').innerText(), new RegExp(`^highest utilisation 1\\.\\d+ → 0\\.\\d+ with ${changes.length} cost changes; \\d+ links change`));
      await tunePage.screenshot({ path: path.join(SHOTS, 'whatif-tune.png') });
      await tunePage.close();
    } finally {
      await tuned.stop();
    }
  });

  it('plays the map period by period from the flows, with sparklines of the top links', async () => {
    // One pair, three ten-minute periods: 6,000, 2,000 and 10,000 bytes from r1's LAN to r4's.
    const baseUs = (Math.floor(Date.now() / 600_000) * 600_000 - 3 * 600_000) * 1000;
    const store = path.join(dir, 'periods');
    const bytes = [6000, 2000, 10000];
    const batch = new FlowRecordBatch();
    bytes.forEach((b, i) => {
      const startUs = baseUs + i * 600_000_000 + 60_000_000;
      batch.push({
        host: 'ws1', startUs, endUs: startUs + 1_000_000, srcAddr: '10.1.0.5', dstAddr: '10.4.0.5', srcPort: 40000 + i, dstPort: 443, protocol: 6, packets: 10, bytes: b, tcpFlags: 0x1b,
        direction: 'out', endReason: 'fin', sampling: 1, interfaceName: 'eth0', source: 'live', process: 'curl', pid: 1, username: 'alice', uid: 1000, container: null, command: null, tunnel: null,
      });
    });
    const written = await FlowStore.open(store);
    written.append(batch);
    await written.flush();
    await written.close();
    const third = await startConsole(['--from', path.join(dir, 'net.yaml'), '--flows', '--every', '10m', '--since', '1h', '--data-dir', store, '--http', '127.0.0.1:0', '--token', 'periods-token']);
    try {
      const periods = ((await (await fetch(`${third.base}/api/periods`, { headers: { authorization: 'Bearer periods-token' } })).json()) as { periods: { name: string; routed_bytes: number }[] }).periods;
      assert.deepEqual(periods.map((p) => p.routed_bytes), bytes);
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(third.url);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      await page.waitForSelector('#timebar:not([hidden])');
      const r2r3 = page.locator('line.link[data-from="0.0.0.2"][data-to="0.0.0.3"]');
      assert.equal(Number(await r2r3.getAttribute('data-bytes')), bytes.reduce((a, b) => a + b) / 2, 'all periods: half of every byte (two equal paths)');
      for (let i = 0; i < periods.length; i++) {
        await page.locator('#period').fill(String(i));
        await page.waitForSelector(`svg#map[data-period="${periods[i].name}"]`);
        assert.equal(Number(await r2r3.getAttribute('data-bytes')), bytes[i] / 2, `period ${periods[i].name}`);
        assert.equal(await page.locator('#period-name').innerText(), periods[i].name);
      }
      await page.screenshot({ path: path.join(SHOTS, 'map-period.png') });
      // The top links' sparklines: one point per period, the highest at the last period.
      const points = await page.locator('#links tr:nth-child(2) svg.spark polyline').getAttribute('points');
      const ys = points!.split(' ').map((xy) => Number(xy.split(',')[1]));
      assert.equal(ys.length, 3);
      assert.equal(Math.min(...ys), ys[2], 'the last period is the busiest');
      await page.locator('#play').click();
      await page.waitForSelector(`svg#map[data-period="${periods[0].name}"]`, { timeout: 5000 });
      await page.close();
    } finally {
      await third.stop();
    }
  });

  it('lists the abnormal applications of a window, as endsight anomalies does', async () => {
    // Four weeks of a host's usual hours, then one with a 30 MB upload and a port never used before.
    const hourUs = Math.floor((Date.now() * 1000) / HOUR_US) * HOUR_US - 2 * HOUR_US;
    const template = normalHour('ws', hourUs, '10.5.0.1');
    const store = path.join(dir, 'anomalies');
    await writeRecords(store, [
      ...historyRecords(template, { hourStartUs: hourUs, days: 28, seed: 11 }),
      ...template,
      ...connection('ws', hourUs + 100e6, '10.5.0.1', '203.0.113.5', 45000, 443, 6, 30e6, 400_000, 'rclone'),
      ...connection('ws', hourUs + 300e6, '10.5.0.1', '198.51.100.9', 46000, 7777, 6, 2e6, 50_000, 'nc'),
    ]);
    const between = `${new Date(hourUs / 1000).toISOString()}/${new Date((hourUs + HOUR_US) / 1000).toISOString()}`;
    const cli = spawnSync(process.execPath, [BIN, 'anomalies', '--data-dir', store, '--between', between, '--format', 'json'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 0, cli.stderr);
    const expected = cli.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(expected.length >= 2, cli.stdout);
    const second = await startConsole(['--data-dir', store, '--http', '127.0.0.1:0', '--token', 'anomalies-token']);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.goto(second.url);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      await page.locator('button.tab[data-tab="anomalies"]').click();
      await page.waitForSelector('body[data-anomalies="done"]', { timeout: 30_000 });
      await page.locator('#an-between').fill(between);
      await page.evaluate('delete document.body.dataset.anomalies');
      await page.locator('#an-run').click();
      await page.waitForSelector('body[data-anomalies="done"]', { timeout: 30_000 });
      const rows = await page.locator('#an-rows tr.anomaly').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')));
      assert.deepEqual(rows.map((r) => [r[0], r[1], r[2], r[3], r[4]]), expected.map((e) => [e.host, e.app, e.kind, String(e.score), e.feature]));
      assert.ok(rows.some((r) => r[1] === 'tcp/7777' && r[2] === 'new_application'), JSON.stringify(rows));
      assert.match(await page.locator('#an-status').innerText(), new RegExp(`^${expected.length} anomalous of ${expected.length} shown; 1 of 1 hosts answered$`));
      await page.screenshot({ path: path.join(SHOTS, 'anomalies.png') });
      await page.close();
    } finally {
      await second.stop();
    }
  });
});
