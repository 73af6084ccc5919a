/**
 * The web console in a real browser: `endsight console` serves the small network of the topo tests
 * with a hand-made matrix; Debian's chromium, driven by playwright-core (headless, no download),
 * opens it with the access token. The map draws every link; a click on a link shows a breakdown that
 * sums to the link's load; the what-if of a link going down shows the load it moves. The API refuses
 * requests without the token. Screenshots go to $TMPDIR/endsight-console-screenshots.
 * Needs chromium (installed by scripts/install-deps.sh --with-test-peers).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { requirePrograms } from '../../src/lab/netns.js';
import { HAND_DEMANDS, handTopology } from '../../src/topo/test-networks.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
const SHOTS = path.join(tmpdir(), 'endsight-console-screenshots');

describe('the web console in chromium', { timeout: 120_000 }, () => {
  let dir = '';
  let server: ChildProcess;
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
    server = spawn(process.execPath, [BIN, 'console', '--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), '--http', '127.0.0.1:0', '--token', 'console-test-token'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    server.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const deadline = Date.now() + 30_000;
    while (!/the console is on (\S+)/.test(stderr)) {
      assert.ok(Date.now() < deadline && server.exitCode === null, `the console did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    consoleUrl = /the console is on (\S+)/.exec(stderr)![1];
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'] });
  });

  after(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    if (server && server.exitCode === null) await new Promise((r) => server.once('close', r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses the API without the token', async () => {
    const base = consoleUrl.replace(/\/#token=.*$/, '');
    assert.equal((await fetch(`${base}/api/links`)).status, 401);
    assert.equal((await fetch(`${base}/api/links`, { headers: { authorization: 'Bearer console-test-token' } })).status, 200);
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

    // r1–r3 down: r1→r2 over the LAN goes from 620 to 1,240 bytes.
    await page.locator('#whatif-link').selectOption('0.0.0.1,0.0.0.3');
    await page.locator('#whatif-run').click();
    await page.waitForSelector('#whatif[data-done="true"]');
    assert.match(await page.locator('#whatif').innerText(), /0\.0\.0\.1 → 0\.0\.0\.2\s+620\s+1\.2 k\s+\+620/);
    await page.screenshot({ path: path.join(SHOTS, 'whatif.png') });
    await page.close();
  });
});
