/**
 * The network view's answers (top talkers, a link's click-through, a what-if) by hand, and the JSON
 * API of `endsight topo serve` end to end: every endpoint, wrong questions as one-line 400/404
 * errors, and random query strings that never crash the server nor get a 500.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { topologyDatabase } from './ospf/topology-file.js';
import { NetworkView } from './network-view.js';
import type { Demand } from './link-loads.js';
import { HAND_DEMANDS, handTopology } from './test-networks.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');
const NET = handTopology();
// Carol's pair is tcp/443 here, so that two pairs share an application.
const DEMANDS: Demand[] = HAND_DEMANDS.map((d) => (d.user === 'carol' ? { ...d, app: 'tcp/443' } : d));

test('NetworkView: top talkers, a click-through and a what-if, by hand', () => {
  const view = new NetworkView(topologyDatabase(NET), DEMANDS, '0.0.0.0', 0, { bps: new Map([['10.0.34.1', 10_000]]), windowS: 1 });
  assert.deepEqual(view.top('app', 5), [{ key: { app: 'tcp/443' }, bytes: 1240, share: 0.8052 }, { key: { app: 'udp/53' }, bytes: 300, share: 0.1948 }]);
  assert.deepEqual(view.top('host', 2).map((r) => [r.key.host, r.bytes]), [['10.1.0.5', 1200], ['10.4.0.5', 1200]]);
  // With a capacity on r3→r4 only, that link comes first: 1,240 bytes in 1 s on 10 kbit/s.
  assert.deepEqual(view.links(1), [{ from: '0.0.0.3', to: '0.0.0.4', via: 'p2p', from_address: '10.0.34.1', bytes: 1240, share: 0.8052, utilisation: 0.992 }]);
  const link = view.link('0.0.0.2', '0.0.0.3', undefined, 'user', 10);
  assert.ok(!('error' in link));
  assert.deepEqual(link.rows, [{ key: { user: 'alice' }, bytes: 600, pairs: 1, share: 0.9677 }, { key: { user: 'carol' }, bytes: 20, pairs: 1, share: 0.0323 }]);
  assert.deepEqual(view.link('0.0.0.2', '0.0.0.4', undefined, 'pair', 10), { error: 'no link from 0.0.0.2 to 0.0.0.4 in area 0.0.0.0' });
  const whatIf = view.whatIf([{ kind: 'link-down', a: '0.0.0.1', b: '0.0.0.3' }], 1);
  assert.deepEqual(whatIf.links[0], { from: '0.0.0.1', to: '0.0.0.2', via: '10.0.0.0/24', from_address: '10.0.0.1', bytes: 1240, share: 0.8052, utilisation: null, before_bytes: 620, change_bytes: 620, before_utilisation: null });
});

test('endsight topo serve: the JSON API, its errors, and random questions that never crash it', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-serve-'));
  writeFileSync(path.join(dir, 'net.yaml'), JSON.stringify(NET));
  writeFileSync(path.join(dir, 'm.csv'), 'src,dst,bytes,app,user\n' + DEMANDS.map((d) => `${d.src},${d.dst},${d.bytes},${d.app},${d.user}`).join('\n') + '\n');
  const child = spawn(process.execPath, [BIN, 'topo', 'serve', '--from', path.join(dir, 'net.yaml'), '--matrix', path.join(dir, 'm.csv'), '--http', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    const deadline = Date.now() + 30_000;
    while (!/serving the network view on (http:\S+)\/api/.test(stderr)) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the server did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const base = /serving the network view on (http:\S+)\/api/.exec(stderr)![1];
    const get = async (query: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const response = await fetch(base + query);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const index = await get('/api');
    assert.equal(index.status, 200);
    assert.equal(index.body.routers, 4);
    const links = await get('/api/links?top=1');
    assert.deepEqual((links.body.links as unknown[])[0], { from: '0.0.0.3', to: '0.0.0.4', via: 'p2p', from_address: '10.0.34.1', bytes: 1240, share: 0.8052, utilisation: null });
    const link = await get('/api/link?from=0.0.0.2&to=0.0.0.3&by=entry');
    assert.deepEqual(link.body.rows, [{ key: { entry: '0.0.0.1' }, bytes: 620, pairs: 2, share: 1 }]);
    const whatIf = await get('/api/whatif?router-down=0.0.0.2&top=1');
    assert.deepEqual(whatIf.body.steps, ['router-down 0.0.0.2']);
    const routes = await get('/api/routes?router=0.0.0.4');
    assert.ok((routes.body.routes as { prefix: string }[]).some((r) => r.prefix === '10.1.0.0/24'));
    for (const [query, status, message] of [
      ['/api/top?by=planet', 400, /by must be one of host/],
      ['/api/link?from=0.0.0.2&to=0.0.0.4', 404, /no link from 0.0.0.2 to 0.0.0.4/],
      ['/api/link?from=x', 400, /from must be a router ID/],
      ['/api/whatif', 400, /a what-if needs steps/],
      ['/api/whatif?cost=bad', 400, /Cannot read cost "bad"/],
      ['/api/links?top=0', 400, /top must be a whole number/],
      ['/api/routes?router=9.9.9.9', 404, /no router 9.9.9.9/],
      ['/nowhere', 404, /GET \/api lists them/],
    ] as const) {
      const answer = await get(query);
      assert.equal(answer.status, status, query);
      assert.match(String(answer.body.error), message, query);
    }
    // Random questions: any status but 500, and the server still answers afterwards.
    let seed = 99;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const words = ['from', 'to', 'by', 'top', 'address', 'router', 'link-down', 'cost', 'move', 'router-down', '0.0.0.1', '0.0.0.3', '10.0.0.0/24', '=', ',', '%00', '%ff', '999999999999', '-1', 'app', '&&', '..'];
    const paths = ['/api/links', '/api/top', '/api/link', '/api/whatif', '/api/routes', '/api'];
    for (let i = 0; i < 300; i++) {
      let query = `${paths[random(paths.length)]}?`;
      for (let k = random(6); k > 0; k--) query += `${words[random(words.length)]}=${words[random(words.length)]}${words[random(words.length)]}&`;
      const response = await fetch(base + query);
      assert.notEqual(response.status, 500, `${query}: ${await response.text()}`);
      await response.arrayBuffer().catch(() => undefined);
    }
    assert.equal((await get('/api')).status, 200);
    assert.doesNotMatch(stderr, /internal error/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
    rmSync(dir, { recursive: true, force: true });
  }
});
