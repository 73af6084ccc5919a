/**
 * The console's Fleet tab over a fleet on a real nats-server, in chromium:
 * - the coverage of each site: three agents in two sites answering signed queries from their own
 *   stores (test-fleet.ts), whose flows show hosts without an agent in their subnets; the tab gives
 *   each site's agents, hosts seen and share with an agent, and names the hosts without one;
 * - at scale: 3,000 agents heartbeating from this process (FleetHost on one connection, with
 *   health), listed by a tab that holds only the rows in view, answers in bounded time, and draws
 *   the last agent when scrolled to the end.
 * Needs nats-server and chromium. Screenshots go to $TMPDIR/endsight-console-screenshots.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { chromium, type Browser } from 'playwright-core';
import { Lab, requirePrograms } from '../../src/lab/netns.js';
import { startTestFleet, type TestFleet } from '../../src/fleet/test-fleet.js';
import { FleetHost } from '../../src/fleet/nats-fleet.js';
import { FlowStore } from '../../src/store/index.js';
import { FlowRecordBatch } from '../../src/flow/index.js';
import { startConsole } from '../../src/console/test-console.js';

const SHOTS = path.join(tmpdir(), 'endsight-console-screenshots');
const AGENTS = 3000;
const SITES = 40;

/** A store of one agent's records: [peer-or-source, destination, bytes, direction] each, an hour ago. */
async function writeStore(dir: string, host: string, records: [string, string, number, 'in' | 'out'][]): Promise<void> {
  const batch = new FlowRecordBatch();
  const startUs = Date.now() * 1000 - 3_600_000_000;
  records.forEach(([src, dst, bytes, direction], i) =>
    batch.push({
      host, startUs: startUs + i * 1_000_000, endUs: startUs + i * 1_000_000 + 500_000, srcAddr: src, dstAddr: dst, srcPort: 40000 + i, dstPort: 443, protocol: 6, packets: 5, bytes, tcpFlags: 0x1b,
      direction, endReason: 'fin', sampling: 1, interfaceName: 'eth0', source: 'live', process: 'curl', pid: 1, username: 'alice', uid: 1000, container: null, command: null, tunnel: null,
    }),
  );
  const store = await FlowStore.open(dir);
  store.append(batch);
  await store.flush();
  await store.close();
}

describe("the console's Fleet tab", { timeout: 180_000 }, () => {
  const lab = new Lab(`es-console-fleet-${process.pid}`);
  let dir = '';
  let fleet: TestFleet | undefined;
  let browser: Browser;
  let nats: NatsConnection | undefined;
  const hosts: FleetHost[] = [];
  const consoles: Awaited<ReturnType<typeof startConsole>>[] = [];

  before(async () => {
    requirePrograms({ 'nats-server': 'nats-server', chromium: 'chromium' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-console-fleet-'));
    mkdirSync(SHOTS, { recursive: true });
    // north: n1 (10.10.0.1) and n2 (10.10.0.2); south: s1 (10.20.0.1).
    await writeStore(path.join(dir, 'n1'), 'n1', [
      ['10.10.0.1', '10.10.0.2', 5000, 'out'], // to n2: an agent
      ['10.10.0.1', '10.10.0.50', 1000, 'out'], // no agent
      ['10.10.0.51', '10.10.0.1', 300, 'in'], // no agent
      ['10.10.0.50', '10.10.0.1', 200, 'in'],
      ['10.10.0.1', '8.8.8.8', 700, 'out'], // another subnet: not a host of the site
      ['10.10.0.1', '10.10.0.255', 100, 'out'], // the subnet's broadcast: not a host
    ]);
    await writeStore(path.join(dir, 'n2'), 'n2', [
      ['10.10.0.2', '10.10.0.50', 400, 'out'],
      ['10.10.0.2', '10.10.0.1', 50, 'out'],
    ]);
    await writeStore(path.join(dir, 's1'), 's1', [
      ['10.20.0.1', '10.20.0.9', 900, 'out'],
      ['10.20.0.1', '10.20.0.10', 90, 'out'],
      ['10.20.0.11', '10.20.0.1', 9, 'in'],
      ['10.20.0.1', '10.10.0.50', 10, 'out'], // north's subnet, seen from south: not south's
    ]);
    fleet = await startTestFleet(lab, dir, 'sites-fleet', [
      { identity: { id: 'n1', site: 'north', tags: [], addresses: ['127.0.0.1', '10.10.0.1'] }, dataDir: path.join(dir, 'n1') },
      { identity: { id: 'n2', site: 'north', tags: [], addresses: ['127.0.0.1', '10.10.0.2'] }, dataDir: path.join(dir, 'n2') },
      { identity: { id: 's1', site: 'south', tags: [], addresses: ['127.0.0.1', '10.20.0.1'] }, dataDir: path.join(dir, 's1') },
    ]);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  });

  after(async () => {
    await browser?.close();
    for (const c of consoles) await c.stop();
    for (const h of hosts) h.stop();
    await nats?.close();
    await fleet?.stop();
    assert.deepEqual(await lab.cleanup(), []);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shows each site's share of hosts with an agent, and the hosts without one", async () => {
    const served = await startConsole(['--nats', fleet!.url, '--sign-key', fleet!.signKey, '--fleet', 'sites-fleet', '--http', '127.0.0.1:0', '--token', 'sites-token']);
    consoles.push(served);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(served.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    await page.locator('button.tab[data-tab="fleet"]').click();
    await page.waitForSelector('body[data-sitecoverage="done"]', { timeout: 60_000 });
    const rows = await page.locator('#fleet-coverage tr.site').evaluateAll((trs) =>
      trs.map((tr) => ({ site: tr.getAttribute('data-site'), agents: Number(tr.getAttribute('data-agents')), hosts: Number(tr.getAttribute('data-hosts')), share: Number(tr.getAttribute('data-share')), without: tr.getAttribute('data-without') })),
    );
    // north: n1 and n2, and 10.10.0.50 (1,600 bytes with both) and 10.10.0.51 (300) without an agent;
    // n2 is an agent, 8.8.8.8 another subnet, 10.10.0.255 the broadcast. south: s1 and three without.
    assert.deepEqual(rows, [
      { site: 'north', agents: 2, hosts: 4, share: 0.5, without: '10.10.0.50 10.10.0.51' },
      { site: 'south', agents: 1, hosts: 4, share: 0.25, without: '10.20.0.9 10.20.0.10 10.20.0.11' },
    ]);
    assert.match(await page.locator('#fleet-cov-status').innerText(), /^flows of the last 24h; 3 of 3 hosts answered$/);
    assert.match(await page.locator('#fleet-coverage').innerText(), /north\s+2\s+4\s+50\.0%\s+10\.10\.0\.50 \(1\.6 kB\), 10\.10\.0\.51 \(300B\)/);
    await page.screenshot({ path: path.join(SHOTS, 'fleet-coverage.png'), fullPage: true });
    await page.close();
  });

  it(`lists ${AGENTS.toLocaleString('en')} agents drawing only the rows in view, in bounded time`, async () => {
    // Every agent heartbeats with its health from this process, on one connection.
    nats = await connect({ servers: fleet!.url, name: 'console-fleet-scale' });
    const silent = { answer: async () => ({ host: '', ok: false as const, code: 'not_targeted' as const, error: 'not for this test' }) };
    for (let i = 0; i < AGENTS; i++) {
      const id = `agent-${String(i).padStart(5, '0')}`;
      hosts.push(new FleetHost(nats, 'scale-fleet', { id, site: `site-${String(i % SITES).padStart(2, '0')}`, tags: [], addresses: [`10.${100 + (i >> 8)}.${i & 255}.1`] }, '9.9.9', silent, 4000, {
        health: () => ({ packets: 1000 * i, dropped: i % 7, flowsActive: i % 50, recordsStored: 10 * i, storeBytes: 1e6 * i, cpu: 0.01, rssBytes: 5e7, attributedRatio: 0.9, sampling: 1 }),
      }));
    }
    await nats.flush();
    const served = await startConsole(['--nats', fleet!.url, '--sign-key', fleet!.signKey, '--fleet', 'scale-fleet', '--http', '127.0.0.1:0', '--token', 'scale-token']);
    consoles.push(served);
    // The console hears the fleet from its first question on: ask until every agent is heard.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const answer = (await (await fetch(`${served.base}/api/fleet`, { headers: { authorization: 'Bearer scale-token' } })).json()) as { agents: number };
      if (answer.agents === AGENTS) break;
      assert.ok(Date.now() < deadline, `only ${answer.agents} agents heard`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const order = hosts.map((_, i) => ({ id: `agent-${String(i).padStart(5, '0')}`, site: `site-${String(i % SITES).padStart(2, '0')}` })).sort((a, b) => (a.site === b.site ? (a.id < b.id ? -1 : 1) : a.site < b.site ? -1 : 1));

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(served.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    const started = Date.now();
    await page.locator('button.tab[data-tab="fleet"]').click();
    await page.waitForSelector('body[data-fleet="done"]', { timeout: 30_000 });
    const listMs = Date.now() - started;
    assert.match(await page.locator('#fleet-status').innerText(), new RegExp(`^${AGENTS} agents, 0 silent`));
    assert.equal(await page.locator('#fleet-sites tr').count(), 1 + SITES);
    // Only the rows in view (and a few around) are in the document, the first ones first.
    const drawn = await page.locator('#fleet-hosts tr.host').count();
    assert.ok(drawn > 10 && drawn <= 80, `${drawn} rows drawn of ${AGENTS}: ${(await page.locator('#fleet-box').innerHTML()).slice(0, 2000)}`);
    assert.equal(await page.locator('#fleet-hosts tr.host').first().getAttribute('data-host'), order[0].id);
    await page.screenshot({ path: path.join(SHOTS, 'fleet-3000-agents.png') });
    // Scrolled to the end: the last agent, still a window of rows.
    const scrolled = Date.now();
    await page.locator('#fleet-box').evaluate((box) => (box.scrollTop = box.scrollHeight));
    await page.locator(`#fleet-hosts tr.host[data-host="${order[order.length - 1].id}"]`).waitFor({ timeout: 10_000 });
    const scrollMs = Date.now() - scrolled;
    assert.ok((await page.locator('#fleet-hosts tr.host').count()) <= 80);
    const last = await page.locator(`#fleet-hosts tr.host[data-host="${order[order.length - 1].id}"] td`).allInnerTexts();
    const index = Number(order[order.length - 1].id.slice(6));
    assert.deepEqual(last.slice(0, 3), [order[order.length - 1].id, order[order.length - 1].site, '9.9.9']);
    assert.equal(last[4], (1000 * index / 1e6).toFixed(2) + ' M', 'its packets, from its heartbeat');
    await page.screenshot({ path: path.join(SHOTS, 'fleet-3000-agents-end.png') });
    console.log(`${AGENTS} agents: the Fleet tab's list in ${listMs} ms, ${drawn} rows drawn; scrolled to the end in ${scrollMs} ms`);
    assert.ok(listMs < 15_000, `the list in ${listMs} ms`);
    assert.ok(scrollMs < 3_000, `scrolled in ${scrollMs} ms`);
    await page.close();
  });
});
