/**
 * `endsight up`, the quick start's first command: the agent on the embedded defaults and the web
 * console beside it over the agent's store, with no topology and no broker. The test runs it as root
 * (so the console runs as the worker's user, like the meter), on loopback only, sends UDP to port 9,
 * and asks the console's API for what the store holds.
 *
 * Needs root.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { freeTcpPort } from '../../src/common/free-port.js';
import { childProcesses, statusField } from '../../src/lab/proc.js';

const BIN = path.join(fileURLToPath(new URL('../../../', import.meta.url)), 'bin', 'endsight.js');

/** POST /api/query to the console at `url` (its page URL, with #token=): the last JSON line. */
async function askConsole(url: string, sql: string): Promise<{ result?: { rows: unknown[][]; answered: string[] }; error?: string }> {
  const base = url.replace(/\/#token=.*$/, '');
  const token = /#token=(.+)$/.exec(url)![1];
  const response = await fetch(`${base}/api/query`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ sql }) });
  assert.equal(response.status, 200);
  const lines = (await response.text()).trim().split('\n').map((line) => JSON.parse(line) as { result?: { rows: unknown[][]; answered: string[] }; error?: string });
  return lines[lines.length - 1];
}

test('endsight up: the agent and the console over its store', { timeout: 120_000 }, async () => {
  if (process.getuid?.() !== 0) assert.fail('this test runs the agent, which needs root');
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-up-'));
  chmodSync(dir, 0o755); // the worker and the console run unprivileged
  const dataDir = path.join(dir, 'store');
  const healthPort = await freeTcpPort();
  const up = spawn(process.execPath, [BIN, 'up', '--data-dir', dataDir, '--interface', 'lo', '--filter', 'udp port 9', '--health', `127.0.0.1:${healthPort}`, '--console', '127.0.0.1:0', '--export-interval', '1s'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  up.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  up.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise((resolve) => up.once('close', resolve));
  const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 40_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      assert.ok(Date.now() < deadline && up.exitCode === null, `waiting for ${what}: ${stdout}\n${stderr.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };
  try {
    await waitFor('the console', () => /web console: (\S+)/.test(stdout));
    await waitFor('the capture', () => /capture started/.test(stderr));
    assert.match(stdout, /endsight is monitoring this machine \(lo\)/);
    // While the agent runs, the console answers from its store.
    const first = await askConsole(/web console: (\S+)/.exec(stdout)![1], 'SELECT count(*) AS n FROM flows');
    assert.deepEqual(first.result?.answered, ['this host'], JSON.stringify(first));
    // The console runs as the meter's unprivileged user.
    const consolePid = childProcesses(up.pid!).find((pid) => spawnSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'utf8' }).stdout.includes('\0console\0'));
    assert.ok(consolePid !== undefined, 'a console process');
    assert.notEqual(Number(statusField(consolePid, 'Uid').split(/\s+/)[1]), 0, 'the console does not run as root');

    const socket = createSocket('udp4');
    for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => socket.send(`probe ${i}`, 9, '127.0.0.1', () => resolve()));
    socket.close();
    // The UDP flow is stored once it goes quiet (idle timeout) or at the stop: until then the store may not exist yet.
    const SQL = "SELECT sum(packets) AS packets FROM flows WHERE proto = 17 AND dst_port = 9 AND dst_addr = '127.0.0.1'";
    up.kill('SIGTERM'); // stores every active flow, then we start it again to look
    await exited;
    assert.equal(up.exitCode, 0, stderr.slice(-2000));
    const stored = spawnSync(process.execPath, [BIN, 'query', '--data-dir', dataDir, '--format', 'json', SQL], { encoding: 'utf8' });
    assert.equal(stored.status, 0, stored.stderr);
    assert.equal(JSON.parse(stored.stdout).packets, 5);

    const again = spawn(process.execPath, [BIN, 'up', '--data-dir', dataDir, '--interface', 'lo', '--filter', 'udp port 9', '--health', 'off', '--console', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out2 = '';
    again.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out2 += chunk));
    const exited2 = new Promise((resolve) => again.once('close', resolve));
    try {
      const deadline = Date.now() + 40_000;
      while (!/web console: (\S+)/.test(out2)) {
        assert.ok(Date.now() < deadline && again.exitCode === null, `the second up: ${out2}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const url2 = /web console: (\S+)/.exec(out2)![1];
      const base2 = url2.replace(/\/#token=.*$/, '');
      const token2 = /#token=(.+)$/.exec(url2)![1];
      const answer = await askConsole(url2, SQL);
      assert.deepEqual(answer.result?.rows, [[5]], JSON.stringify(answer));
      assert.deepEqual(answer.result?.answered, ['this host']);
      const graph = (await (await fetch(`${base2}/api/graph`, { headers: { authorization: `Bearer ${token2}` } })).json()) as { routers: string[] };
      assert.deepEqual(graph.routers, [], 'no topology: an empty map');
    } finally {
      again.kill('SIGTERM');
      await exited2;
    }
  } finally {
    if (up.exitCode === null) {
      process.kill(-up.pid!, 'SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
});
