/**
 * The agent's command line as an operator meets it: a bad configuration lists every problem and
 * exits 1 before anything starts; without capture privileges it says which are missing and how to
 * grant them; a taken health address is named. Needs root (to run the agent as `nobody`).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { requirePrograms } from '../../src/lab/netns.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = path.join(REPO_ROOT, 'bin', 'endsight.js');

describe('endsight agent, operator errors', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-agent-cli-'));
  chmodSync(dir, 0o777);
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lists every problem of the configuration at once and exits 1', () => {
    const config = path.join(dir, 'bad.yaml');
    writeFileSync(config, 'flows:\n  idle_timeout: soon\n  export_interval: 0s\ncapture:\n  colour: red\n');
    const run = spawnSync('node', [BIN, 'agent', '--config', config, '--data-dir', path.join(dir, 'store')], { encoding: 'utf8' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /^endsight: 3 problems in the configuration:\n/);
    for (const key of ['flows.idle_timeout', 'flows.export_interval', 'unknown setting colour']) assert.match(run.stderr, new RegExp(key.replace('.', '\\.')));
    assert.equal(run.stdout, '');
  });

  it('says which privilege live capture lacks, and how to grant it', () => {
    requirePrograms({ setpriv: 'util-linux' });
    const run = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'node', BIN, 'agent', '--data-dir', path.join(dir, 'nobody'), '--health', 'off'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stderr, /^endsight: live capture needs root or the capability CAP_NET_RAW: .*endsight-agent\.service\n$/m);
    assert.doesNotMatch(run.stderr, /every flow stored/);
  });

  it('names a health address that is taken', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const run = spawnSync('node', [BIN, 'agent', '--data-dir', path.join(dir, 'busy'), '--health', `127.0.0.1:${port}`], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(run.status, 1);
      assert.match(run.stderr, new RegExp(`^endsight: Cannot serve the health endpoint on 127\\.0\\.0\\.1:${port}: the address is in use`, 'm'));
    } finally {
      server.close();
    }
  });
});
