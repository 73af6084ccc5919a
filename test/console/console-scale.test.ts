/**
 * The console at the paper's scale (issue 7: "the pages stay responsive with 2,500 routers and
 * 300,000 hosts"): a generated enterprise network of 2,500 routers in one OSPF area (a core ring,
 * distribution routers on two core routers, access routers on two distribution routers, one /24 of
 * hosts each) and a traffic matrix of 300,000 hosts, each sending to another. The map is drawn a
 * level up (groups of routers around hubs), whose links and groups add up to every link's load; a
 * click on a group lists it; a link failure's What-if maps add up, per group link, to the ungrouped
 * what-if; the top talkers are drawn beside their groups and open on a click. The times are printed and bounded.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { requirePrograms } from '../../src/lab/netns.js';
import { Rng } from '../../src/bench/prng.js';
import { startConsole } from '../../src/console/test-console.js';
import { FlowStore } from '../../src/store/index.js';

const ROUTERS = 2500;
const HOSTS = 300_000;
const SHOTS = path.join(tmpdir(), 'endsight-console-screenshots');

const routerId = (i: number): string => `1.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const subnet = (k: number): string => {
  const v = 0x0a000000 + 4 * k;
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}/30`;
};
const lan = (a: number): string => `172.${16 + ((a >> 8) & 15)}.${a & 255}`;

/** The network as a topology file (docs/topo.md), and the access routers. */
function enterprise(rng: Rng): { topology: object; access: number[] } {
  const core = ROUTERS / 50;
  const distribution = ROUTERS / 10;
  const links: { a: string; b: string; cost: number; subnet: string }[] = [];
  const add = (a: number, b: number, lo: number, hi: number): void => void links.push({ a: routerId(a), b: routerId(b), cost: lo + rng.int(hi - lo + 1), subnet: subnet(links.length) });
  for (let c = 0; c < core; c++) {
    add(c, (c + 1) % core, 1, 10);
    if (c < core / 2) add(c, c + core / 2, 1, 10);
  }
  for (let d = 0; d < distribution; d++) {
    add(core + d, d % core, 10, 50);
    add(core + d, (d + 1) % core, 10, 50);
  }
  const access: number[] = [];
  for (let a = core + distribution; a < ROUTERS; a++) {
    const k = a - core - distribution;
    add(a, core + (k % distribution), 50, 100);
    add(a, core + ((k + 1) % distribution), 50, 100);
    access.push(a);
  }
  const routers = Array.from({ length: ROUTERS }, (_, i) => ({ id: routerId(i), stubs: access.includes(i) ? [{ prefix: `${lan(i)}.0/24`, cost: 1 }] : [], asbr: false }));
  return { topology: { routers, links, lans: [], externals: [] }, access };
}

describe('the console with 2,500 routers and 300,000 hosts', { timeout: 240_000 }, () => {
  let dir = '';
  let browser: Browser;
  let served: Awaited<ReturnType<typeof startConsole>> | undefined;
  const auth = { authorization: 'Bearer scale-token' };
  const api = async <T>(route: string): Promise<T> => (await (await fetch(`${served!.base}${route}`, { headers: auth })).json()) as T;
  // The generated matrix (src, dst, bytes) and each host's access router: the tests' oracle.
  const pairs: [string, string, number][] = [];
  const hostRouter = new Map<string, string>();

  before(async () => {
    requirePrograms({ chromium: 'chromium' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-console-scale-'));
    const rng = new Rng(7);
    const { topology, access } = enterprise(rng);
    writeFileSync(path.join(dir, 'net.yaml'), JSON.stringify(topology));
    // 300,000 hosts spread over the access routers' /24s, each sending to a random other host.
    const hosts: string[] = [];
    for (let h = 0; h < HOSTS; h++) {
      hosts.push(`${lan(access[h % access.length])}.${1 + Math.floor(h / access.length)}`);
      hostRouter.set(hosts[h], routerId(access[h % access.length]));
    }
    const lines = ['src,dst,bytes'];
    for (let h = 0; h < HOSTS; h++) {
      pairs.push([hosts[h], hosts[rng.int(HOSTS)], 1000 + rng.int(100_000)]);
      lines.push(pairs[h].join(','));
    }
    writeFileSync(path.join(dir, 'm.csv'), lines.join('\n') + '\n');
    // An empty store: a host's click asks it for the host's flows (none here) beside the matrix's figures.
    await (await FlowStore.open(path.join(dir, 'store'))).close();
    served = await startConsole(['--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), '--data-dir', path.join(dir, 'store'), '--http', '127.0.0.1:0', '--token', 'scale-token'], 120_000);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  });

  after(async () => {
    await browser?.close();
    await served?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws the groups of routers, which add up to every link, and lists a group on a click', async () => {
    const level = await api<{ groups: { id: number; routers: number; bytes_within: number }[]; links: { bytes: number; links: number }[] }>('/api/groups');
    const all = await api<{ links: { bytes: number }[] }>('/api/links?top=100000');
    const total = all.links.reduce((sum, l) => sum + l.bytes, 0);
    const grouped = level.links.reduce((sum, l) => sum + l.bytes, 0) + level.groups.reduce((sum, g) => sum + g.bytes_within, 0);
    assert.ok(Math.abs(grouped - total) <= 1e-6 * total, `groups ${grouped} against links ${total}`);
    assert.equal(level.groups.reduce((sum, g) => sum + g.routers, 0), ROUTERS, 'every router in one group');
    assert.ok(level.groups.length >= 50 && level.groups.length <= 400, `${level.groups.length} groups`);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const started = Date.now();
    await page.goto(served!.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    const firstDrawMs = Date.now() - started;
    assert.equal(await page.locator('circle.group').count(), level.groups.length);
    assert.equal(await page.locator('line.glink').count(), level.links.length);
    assert.match(await page.locator('#status').innerText(), new RegExp(`^2500 routers in ${level.groups.length} groups`));
    await page.waitForSelector('#talkers tr:nth-child(11)', { timeout: 30_000 });
    const busiest = level.groups.reduce((best, g) => (g.routers > best.routers ? g : best));
    const clicked = Date.now();
    await page.locator(`circle.group[data-group="${busiest.id}"]`).dispatchEvent('click');
    await page.waitForSelector(`#group-links[data-group="${busiest.id}"]`, { timeout: 30_000 });
    const clickMs = Date.now() - clicked;
    assert.match((await page.locator('#group-name').textContent()) ?? '', new RegExp(`and ${busiest.routers - 1} more routers`));
    assert.ok((await page.locator('#group-links tr').count()) > 1);
    await page.screenshot({ path: path.join(SHOTS, 'map-2500-routers.png') });
    console.log(`2,500 routers, 300,000 hosts: ${level.groups.length} groups, ${level.links.length} group links; first drawing ${firstDrawMs} ms, a group's list ${clickMs} ms`);
    assert.ok(firstDrawMs < 30_000, `first drawing in ${firstDrawMs} ms`);
    assert.ok(clickMs < 5_000, `a click answered in ${clickMs} ms`);
    await page.close();
  });

  /** Each router's group, from /api/group (one request per group): the oracle's map of routers to groups. */
  let groupOfRouter: Map<string, number> | undefined;
  const groupsByRouter = async (): Promise<Map<string, number>> => {
    if (groupOfRouter) return groupOfRouter;
    const level = await api<{ groups: { id: number }[] }>('/api/groups');
    const map = new Map<string, number>();
    for (const g of level.groups) for (const r of (await api<{ routers: string[] }>(`/api/group?id=${g.id}&top=1`)).routers) map.set(r, g.id);
    assert.equal(map.size, ROUTERS, 'every router in one group');
    return (groupOfRouter = map);
  };

  it('fails a link between two groups from the grouped map: each group link before and after adds up the ungrouped what-if', async () => {
    type Row = { from: string; to: string; via: string; bytes: number; before_bytes: number; change_bytes: number };
    const groupOf = await groupsByRouter();
    // The most loaded point-to-point link between two groups fails (both directions).
    const busiest = (await api<{ links: Row[] }>('/api/links?top=100000')).links.find((l) => l.via === 'p2p' && groupOf.get(l.from) !== groupOf.get(l.to))!;
    const link = [busiest.from, busiest.to].sort().join(',');
    // The oracle: the ungrouped what-if's every link, added up per pair of groups.
    const plain = await api<{ links: Row[] }>(`/api/whatif?link-down=${link}&top=100000`);
    const expected = new Map<string, { before: number; after: number }>();
    for (const l of plain.links) {
      const key = `${groupOf.get(l.from)}>${groupOf.get(l.to)}`;
      if (groupOf.get(l.from) === groupOf.get(l.to)) continue;
      const sums = expected.get(key) ?? { before: 0, after: 0 };
      sums.before += l.before_bytes;
      sums.after += l.bytes;
      expected.set(key, sums);
    }
    const changed = plain.links.filter((l) => l.change_bytes !== 0);
    assert.ok(changed.length > 0, 'the failure moves traffic');
    const wrong = await fetch(`${served!.base}/api/whatif?link-down=${link}&groups=yes`, { headers: auth });
    assert.deepEqual([wrong.status, await wrong.json()], [400, { error: 'groups must be true or false (got "yes")' }]);

    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(served!.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.locator('button.tab[data-tab="whatif"]').click();
    await page.waitForFunction((n) => (globalThis as unknown as { document: { getElementById(id: string): { options: { length: number } } } }).document.getElementById('wi-router').options.length === n, ROUTERS, { timeout: 30_000 });
    await page.locator('#wi-link').selectOption(link);
    await page.locator('#wi-add-link').click();
    assert.equal(await page.locator('#wi-steps').innerText(), `link-down ${link}`);
    const started = Date.now();
    await page.locator('#wi-run').click();
    await page.waitForSelector('body[data-whatif="done"]', { timeout: 60_000 });
    const runMs = Date.now() - started;

    assert.match(await page.locator('#wi-status').innerText(), new RegExp(`^${changed.length} links change`));
    // The list: the links that change most, as many as the page shows (at most 500), in the ungrouped order.
    const rows = await page.locator('#wi-links tr').evaluateAll((trs) => trs.slice(1).map((tr) => tr.querySelector('td')!.textContent));
    assert.deepEqual(rows, changed.slice(0, 500).map((l) => `${l.from} → ${l.to}`));
    // Both maps a level up: every group link, before and after, is the sum of its links in the ungrouped answer.
    type Drawn = { key: string; bytes: number; stroke: string };
    const drawn = (svg: string): Promise<Drawn[]> => page.locator(`#${svg} line.glink`).evaluateAll((lines) => lines.map((l) => ({ key: `${l.getAttribute('data-from')}>${l.getAttribute('data-to')}`, bytes: Number(l.getAttribute('data-bytes')), stroke: l.getAttribute('stroke')! })));
    const before = await drawn('wi-before');
    const after = await drawn('wi-after');
    const level = await api<{ links: { from: number; to: number; bytes: number }[] }>('/api/groups');
    assert.deepEqual(before.map((l) => l.key), level.links.map((l) => `${l.from}>${l.to}`), 'the main map\'s group links');
    assert.deepEqual(after.map((l) => l.key), before.map((l) => l.key));
    const close = (a: number, b: number): boolean => Math.abs(a - b) <= 0.01 + 1e-9 * Math.abs(b); // whatif rounds each link to 0.001 byte
    let moved = 0;
    after.forEach((l, i) => {
      const want = expected.get(l.key) ?? { before: 0, after: 0 };
      assert.ok(close(before[i].bytes, want.before), `group link ${l.key} before: drawn ${before[i].bytes}, links add up to ${want.before}`);
      assert.ok(close(l.bytes, want.after), `group link ${l.key} after: drawn ${l.bytes}, links add up to ${want.after}`);
      // Red where its load grew, green where it fell, blue where it stayed.
      const colour = close(want.after, want.before) ? '#4575b4' : want.after > want.before ? '#d73027' : '#1a9850';
      assert.equal(l.stroke, colour, `group link ${l.key}'s colour`);
      if (colour !== '#4575b4') moved++;
    });
    // The failed link's group link loses at least what that link carried beyond what the others between the two groups take on.
    const failed = `${groupOf.get(busiest.from)}>${groupOf.get(busiest.to)}`;
    assert.ok(after.find((l) => l.key === failed)!.bytes < before.find((l) => l.key === failed)!.bytes, 'the failed link\'s group link carries less');
    await page.screenshot({ path: path.join(SHOTS, 'whatif-2500-routers.png') });
    console.log(`what-if on the grouped map: ${link} down, ${changed.length} links and ${moved} of ${after.length} group links change; routed and drawn in ${runMs} ms`);
    assert.ok(runMs < 30_000, `the what-if in ${runMs} ms`);
    await page.close();
  });

  it('draws the top talkers beside their groups, as the matrix gives them, and shows one on a click', async () => {
    const groupOf = await groupsByRouter();
    // The oracle: the generated matrix's ten hosts with the most bytes sent plus received (ties by address).
    const perHost = new Map<string, number>();
    for (const [src, dst, bytes] of pairs) {
      perHost.set(src, (perHost.get(src) ?? 0) + bytes);
      perHost.set(dst, (perHost.get(dst) ?? 0) + bytes);
    }
    const top = [...perHost].sort((a, b) => b[1] - a[1] || (JSON.stringify({ host: a[0] }) < JSON.stringify({ host: b[0] }) ? -1 : 1)).slice(0, 10);

    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(served!.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.waitForSelector('#map g.host', { timeout: 30_000 });
    const squares = await page.locator('#map g.host').evaluateAll((gs) => gs.map((g) => {
      const rect = g.querySelector('rect')!;
      return { host: g.getAttribute('data-host')!, group: Number(g.getAttribute('data-group')), x: Number(rect.getAttribute('x')) + 4, y: Number(rect.getAttribute('y')) + 4, title: g.querySelector('title')!.textContent! };
    }));
    assert.deepEqual(squares.map((q) => q.host), top.map(([host]) => host));
    for (const [i, q] of squares.entries()) {
      // Beside the group of the access router whose /24 holds it.
      const router = hostRouter.get(q.host)!;
      assert.equal(q.group, groupOf.get(router), `${q.host} beside its router ${router}'s group`);
      const circle = page.locator(`#map circle.group[data-group="${q.group}"]`);
      const [cx, cy, r] = await Promise.all(['cx', 'cy', 'r'].map(async (a) => Number(await circle.getAttribute(a))));
      const d = Math.hypot(q.x - cx, q.y - cy);
      assert.ok(d > r && d < r + 30, `${q.host}'s square ${d.toFixed(1)} from its group's centre (radius ${r})`);
      assert.ok(q.title.startsWith(`${q.host} (router ${router}, in the group of `), q.title);
      assert.ok(q.title.includes(`: ${fmt(top[i][1])} bytes`), q.title);
    }

    // A click on the busiest shows its traffic: sent, received and peers as the matrix has them.
    const [busiest] = top[0];
    const sent = new Map<string, number>();
    const received = new Map<string, number>();
    for (const [src, dst, bytes] of pairs) {
      if (src === busiest) sent.set(dst, (sent.get(dst) ?? 0) + bytes);
      if (dst === busiest) received.set(src, (received.get(src) ?? 0) + bytes);
    }
    const clicked = Date.now();
    await page.locator(`#map g.host[data-host="${busiest}"]`).dispatchEvent('click');
    await page.waitForSelector('body[data-host="done"], body[data-host="error"]', { timeout: 30_000 });
    const clickMs = Date.now() - clicked;
    assert.equal(await page.locator('body').getAttribute('data-host'), 'done', await page.locator('#status').innerText());
    assert.equal(await page.locator('#host-name').textContent(), `${busiest} (attached to router ${hostRouter.get(busiest)})`);
    const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
    const expectedPeers = [...new Set([...sent.keys(), ...received.keys()])].map((peer) => JSON.stringify([peer, sent.get(peer) ?? 0, received.get(peer) ?? 0]));
    // The map's figures (the matrix), then the empty store's (no flow records).
    const summary = await page.locator('#host-summary').innerText();
    assert.ok(summary.startsWith(`on the map: ${fmt(total(sent))} bytes sent, ${fmt(total(received))} received, ${expectedPeers.length} peers; in the store's flows of the last 24h: 0 sent, 0 received, 0 flow records`), summary);
    assert.equal(await page.locator('#host-rows tr.peer').count(), 0);
    const host = await api<{ router: string; matrix: { sent: number; received: number; peers: { key: string; sent: number; received: number }[] } }>(`/api/host?addr=${busiest}&top=100`);
    assert.deepEqual([host.router, host.matrix.sent, host.matrix.received], [hostRouter.get(busiest), total(sent), total(received)]);
    assert.deepEqual(new Set(host.matrix.peers.map((p) => JSON.stringify([p.key, p.sent, p.received]))), new Set(expectedPeers));
    await page.screenshot({ path: path.join(SHOTS, 'hosts-2500-routers.png') });
    console.log(`grouped map: the ${squares.length} top talkers beside their groups; a click on ${busiest} answered in ${clickMs} ms`);
    assert.ok(clickMs < 5_000, `a host's click answered in ${clickMs} ms`);
    await page.close();
  });
});

/** The page's number format (console-page.ts's fmt), to read its titles and summaries. */
function fmt(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(Math.round(n));
}
