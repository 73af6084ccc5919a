/**
 * A host's traffic in the console (issue 7: "click a router or a host to see its traffic"), in
 * chromium: `endsight console --flows` over a store where host A (10.1.0.5, behind r1) talks to two
 * peers, and the agent of one peer (10.4.0.5) recorded the same flow from its end once and a flow of
 * its own to A. A click on A (a square beside r1 on the map, its row among the top talkers, or its
 * row in a link's breakdown by source) shows its bytes sent and received by peer, application, user
 * and process exactly as `endsight query` gives them over the records that count (the flow seen from
 * both ends once), its time buckets, and, from the map's matrix, the bytes the top talkers give it.
 * Screenshots go to $TMPDIR/endsight-console-screenshots.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requirePrograms } from '../../src/lab/netns.js';
import { handTopology } from '../../src/topo/test-networks.js';
import { FlowStore } from '../../src/store/index.js';
import { FlowRecordBatch } from '../../src/flow/index.js';
import { startConsole } from '../../src/console/test-console.js';

const SHOTS = path.join(tmpdir(), 'endsight-console-screenshots');
const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
const A = '10.1.0.5';

describe("a host's traffic in the console", { timeout: 120_000 }, () => {
  let dir = '';
  let browser: Browser;
  let served: Awaited<ReturnType<typeof startConsole>> | undefined;

  before(async () => {
    requirePrograms({ chromium: 'chromium' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-console-host-'));
    mkdirSync(SHOTS, { recursive: true });
    writeFileSync(path.join(dir, 'net.yaml'), JSON.stringify(handTopology()));
    // Three ten-minute periods of the last hour.
    const baseUs = (Math.floor(Date.now() / 600_000) * 600_000 - 3 * 600_000) * 1000;
    const batch = new FlowRecordBatch();
    let port = 40000;
    const record = (host: string, period: number, src: string, dst: string, dstPort: number, protocol: number, bytes: number, direction: 'in' | 'out', process: string, user: string): void => {
      const startUs = baseUs + period * 600_000_000 + 60_000_000 + port;
      batch.push({
        host, startUs, endUs: startUs + 1_000_000, srcAddr: src, dstAddr: dst, srcPort: port++, dstPort, protocol, packets: 10, bytes, tcpFlags: 0x1b,
        direction, endReason: 'fin', sampling: 1, interfaceName: 'eth0', source: 'live', process, pid: 1, username: user, uid: 1000, container: null, command: null, tunnel: null,
      });
    };
    // A's agent (ws-a): HTTPS to 10.4.0.5 in each period, its replies, SSH, and SMTP to a LAN host.
    record('ws-a', 0, A, '10.4.0.5', 443, 6, 6000, 'out', 'curl', 'alice');
    record('ws-a', 1, A, '10.4.0.5', 443, 6, 2000, 'out', 'curl', 'alice');
    record('ws-a', 2, A, '10.4.0.5', 443, 6, 10000, 'out', 'curl', 'alice');
    record('ws-a', 0, '10.4.0.5', A, 443, 6, 500, 'in', 'curl', 'alice');
    record('ws-a', 2, '10.4.0.5', A, 443, 6, 300, 'in', 'curl', 'alice');
    record('ws-a', 1, A, '10.4.0.5', 22, 6, 4000, 'out', 'ssh', 'bob');
    record('ws-a', 2, A, '10.0.0.7', 25, 6, 200, 'out', 'postfix', 'postfix');
    // 10.4.0.5's agent (ws-b): the first HTTPS flow again from its end (it must count once), and a
    // flow of its own to A that A's agent did not record (it counts, with ws-b's process and user).
    record('ws-b', 0, A, '10.4.0.5', 443, 6, 6000, 'in', 'nginx', 'www-data');
    record('ws-b', 1, '10.4.0.5', A, 8080, 6, 700, 'out', 'java', 'svc');
    const store = await FlowStore.open(path.join(dir, 'store'));
    store.append(batch);
    await store.flush();
    await store.close();
    served = await startConsole(['--from', path.join(dir, 'net.yaml'), '--flows', '--every', '10m', '--since', '1h', '--data-dir', path.join(dir, 'store'), '--http', '127.0.0.1:0', '--token', 'host-token']);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  });

  after(async () => {
    await browser?.close();
    await served?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** `endsight query` over the store: the records that count for A (all but ws-b's copy of A's first flow), grouped by `key`. */
  const expectedBy = (key: string): Map<string, { sent: number; received: number; flows: number }> => {
    const sql =
      `SELECT ${key} AS k, sum(CASE WHEN src_addr = '${A}' THEN bytes ELSE 0 END) AS sent, sum(CASE WHEN dst_addr = '${A}' THEN bytes ELSE 0 END) AS received, count(*) AS flows ` +
      `FROM flows WHERE (src_addr = '${A}' OR dst_addr = '${A}') AND NOT (host = 'ws-b' AND direction = 'in') GROUP BY k`;
    const run = spawnSync(process.execPath, [BIN, 'query', '--data-dir', path.join(dir, 'store'), '--since', '1h', '--format', 'json', sql], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(run.status, 0, run.stderr);
    const rows = run.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { k: string | null; sent: number; received: number; flows: number });
    return new Map(rows.map((r) => [r.k ?? '', { sent: Number(r.sent), received: Number(r.received), flows: Number(r.flows) }]));
  };
  const shownRows = async (page: Page): Promise<Map<string, { sent: number; received: number; flows: number }>> =>
    new Map(
      await page.locator('#host-rows tr[data-key]').evaluateAll((trs) =>
        trs.map((tr) => [tr.getAttribute('data-key')!, { sent: Number(tr.getAttribute('data-sent')), received: Number(tr.getAttribute('data-received')), flows: Number(tr.getAttribute('data-flows')) }] as const),
      ),
    );

  it('shows the bytes of a clicked host by peer, application, user and process, as endsight query gives them', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(served!.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    // A is a top talker, drawn beside r1, the router its prefix attaches to.
    const square = page.locator(`g.host[data-host="${A}"]`);
    await square.waitFor({ timeout: 30_000 });
    await square.dispatchEvent('click');
    await page.waitForSelector('body[data-host="done"]', { timeout: 30_000 });
    assert.match((await page.locator('#host-name').textContent())!, new RegExp(`^${A.replace(/\./g, '\\.')} \\(attached to router 0\\.0\\.0\\.1\\)$`));
    assert.equal(await page.locator('#host-rows').getAttribute('data-source'), 'flows');
    await page.screenshot({ path: path.join(SHOTS, 'host.png') });

    for (const [by, key] of [['peer', `CASE WHEN src_addr = '${A}' THEN dst_addr ELSE src_addr END`], ['app', "'tcp/' || least(src_port, dst_port)"], ['user', 'username'], ['process', 'process']] as const) {
      await page.locator('#host-by').selectOption(by);
      assert.deepEqual(await shownRows(page), expectedBy(key), `by ${by}`);
    }
    // Each flow counted once: 6,000 + 2,000 + 10,000 + 4,000 + 200 sent; 500 + 300 + 700 received.
    const summary = await page.locator('#host-summary').innerText();
    assert.match(summary, /in the store's flows of the last 24h: 22\.2 k sent, 1\.5 k received, 8 flow records, 2 peers; 1 of 1 hosts answered/);
    // The map's figure for A is the top talkers' (sent plus received, from the matrix the map draws).
    const api = async <T>(route: string): Promise<T> => (await (await fetch(`${served!.base}${route}`, { headers: { authorization: 'Bearer host-token' } })).json()) as T;
    const talkers = await api<{ rows: { key: { host: string }; bytes: number; router: string | null }[] }>('/api/top?by=host&top=100');
    const talker = talkers.rows.find((r) => r.key.host === A)!;
    assert.equal(talker.router, '0.0.0.1');
    const host = await api<{ matrix: { sent: number; received: number; series: number[] }; flows: { times: { sent: number; received: number }[] } }>(`/api/host?addr=${A}&since=1h`);
    assert.equal(host.matrix.sent + host.matrix.received, talker.bytes);
    assert.deepEqual(host.matrix.series, [6500, 6700, 10500], 'per period: sent and received');
    assert.equal(host.flows.times.reduce((sum, t) => sum + t.sent + t.received, 0), 22200 + 1500, 'the time buckets add up to the whole');
    assert.ok(summary.startsWith(`on the map: 22.2 k bytes sent, 1.5 k received, 2 peers`), summary);

    // The same host from its row among the top talkers, and from a link's breakdown by source.
    await page.evaluate('delete document.body.dataset.host; document.getElementById("host-panel").hidden = true');
    await page.locator('#talkers tr', { hasText: A }).first().click();
    await page.waitForSelector('body[data-host="done"]');
    assert.equal(await page.locator('#host-panel').isVisible(), true);
    await page.locator('#by').selectOption('src');
    await page.locator('line.link[data-from="0.0.0.3"][data-to="0.0.0.4"]').dispatchEvent('click');
    // r3→r4 carries A's traffic to 10.4.0.5 only: its one source row is A.
    await page.locator('#breakdown tr', { hasText: A }).first().waitFor();
    assert.equal(await page.locator('#breakdown tr').count(), 2);
    await page.evaluate('delete document.body.dataset.host');
    await page.locator('#breakdown tr', { hasText: A }).first().click();
    await page.waitForSelector('body[data-host="done"]');
    assert.match((await page.locator('#host-name').textContent())!, new RegExp(`^${A.replace(/\./g, '\\.')} `));
    // A peer's row shows that peer, whose flows hold A's traffic from the other side.
    await page.locator('#host-by').selectOption('peer');
    await page.evaluate('delete document.body.dataset.host');
    await page.locator('#host-rows tr[data-key="10.4.0.5"]').click();
    await page.waitForSelector('body[data-host="done"]');
    assert.match((await page.locator('#host-name').textContent())!, /^10\.4\.0\.5 \(attached to router 0\.0\.0\.4\)$/);
    const peer = await shownRows(page);
    assert.deepEqual(peer.get(A), { sent: 500 + 300 + 700, received: 6000 + 2000 + 10000 + 4000, flows: 7 });
    await page.screenshot({ path: path.join(SHOTS, 'host-peer.png') });
    await page.close();
  });

  it('refuses an address that is not one', async () => {
    const response = await fetch(`${served!.base}/api/host?addr=10.1.0.5%27%20OR%201=1`, { headers: { authorization: 'Bearer host-token' } });
    assert.equal(response.status, 400);
    assert.match(((await response.json()) as { error: string }).error, /addr must be an IPv4 or IPv6 address/);
  });
});
