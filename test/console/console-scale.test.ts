/**
 * The console at the paper's scale (issue 7: "the pages stay responsive with 2,500 routers and
 * 300,000 hosts"): a generated enterprise network of 2,500 routers in one OSPF area (a core ring,
 * distribution routers on two core routers, access routers on two distribution routers, one /24 of
 * hosts each) and a traffic matrix of 300,000 hosts, each sending to another. The map is drawn a
 * level up (groups of routers around hubs), whose links and groups add up to every link's load; a
 * click on a group lists it; the times to the first drawing and to a click are printed and bounded.
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

  before(async () => {
    requirePrograms({ chromium: 'chromium' });
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-console-scale-'));
    const rng = new Rng(7);
    const { topology, access } = enterprise(rng);
    writeFileSync(path.join(dir, 'net.yaml'), JSON.stringify(topology));
    // 300,000 hosts spread over the access routers' /24s, each sending to a random other host.
    const hosts: string[] = [];
    for (let h = 0; h < HOSTS; h++) hosts.push(`${lan(access[h % access.length])}.${1 + Math.floor(h / access.length)}`);
    const lines = ['src,dst,bytes'];
    for (let h = 0; h < HOSTS; h++) lines.push(`${hosts[h]},${hosts[rng.int(HOSTS)]},${1000 + rng.int(100_000)}`);
    writeFileSync(path.join(dir, 'm.csv'), lines.join('\n') + '\n');
    served = await startConsole(['--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), '--http', '127.0.0.1:0', '--token', 'scale-token'], 120_000);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  });

  after(async () => {
    await browser?.close();
    await served?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('draws the groups of routers, which add up to every link, and lists a group on a click', async () => {
    const api = async <T>(route: string): Promise<T> => (await (await fetch(`${served!.base}${route}`, { headers: auth })).json()) as T;
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
});
