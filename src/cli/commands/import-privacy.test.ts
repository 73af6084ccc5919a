/**
 * `endsight import` and the host's privacy policy (docs/privacy.md): with the agent's
 * configuration (--config) the imported records pass its signed policy before they are stored, and a
 * store that keeps a policy is not written without it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { signPolicy } from '../../privacy/signed-policy.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'endsight.js');
const SAMPLE = path.join(ROOT, 'samples', 'sample.pcap.gz');

test('endsight import applies the privacy policy of the agent configuration, and refuses a store that keeps one without it', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'endsight-import-privacy-'));
  try {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path.join(dir, 'authority.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    // ICMP is dropped; every destination address keeps its /24 (IPv4) or /16 (IPv6).
    const policy = signPolicy(privateKey, { version: 3, default: { drop: [{ proto: 'icmp' }, { proto: 'icmpv6' }], truncate: { dst_addr: { ipv4: 24, ipv6: 16 } } } }, { audience: 'endsight', issuer: 'test' });
    writeFileSync(path.join(dir, 'policy.signed.json'), JSON.stringify(policy));
    writeFileSync(path.join(dir, 'agent.yaml'), [`privacy:`, `  policy: ${path.join(dir, 'policy.signed.json')}`, `  authority: ${path.join(dir, 'authority.pub')}`, ''].join('\n'));
    const run = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
    const rows = (store: string, sql: string) => run(['query', '--data-dir', store, '--format', 'csv', sql]).stdout.trim().split(/\r?\n/).slice(1);

    // The same capture without a policy: what the policy is to change.
    const open = path.join(dir, 'open');
    assert.equal(run(['import', '-q', '--data-dir', open, SAMPLE]).status, 0);
    const SQL = 'SELECT proto, src_addr, dst_addr, sum(packets) FROM flows GROUP BY ALL ORDER BY ALL';
    const before = rows(open, SQL);
    assert.ok(before.some((r) => r.startsWith('1,')) && before.some((r) => r.includes('10.77.0.2')), before.join('\n'));

    const guarded = path.join(dir, 'guarded');
    const imported = run(['import', '--format', 'json', '--data-dir', guarded, '--config', path.join(dir, 'agent.yaml'), SAMPLE]);
    assert.equal(imported.status, 0, imported.stderr);
    const summary = JSON.parse(imported.stdout) as { flows: number; privacy: { version: number; section: string; dropped: number } };
    const icmpFlows = Number(rows(open, 'SELECT count(*) FROM flows WHERE proto IN (1, 58)')[0]);
    assert.ok(icmpFlows > 0);
    assert.deepEqual(summary.privacy, { version: 3, section: 'default', dropped: icmpFlows });
    // Exactly the open store's flows, less ICMP, with destinations cut to their prefixes.
    const cut = (a: string) => (a.includes(':') ? a.split(':')[0] + '::' : a.split('.').slice(0, 3).join('.') + '.0');
    const expected = before
      .map((r) => r.split(','))
      .filter(([proto]) => proto !== '1' && proto !== '58')
      .map(([proto, src, dst, packets]) => [proto, src, cut(dst), packets]);
    const merged = new Map<string, number>();
    for (const [proto, src, dst, packets] of expected) merged.set([proto, src, dst].join(','), (merged.get([proto, src, dst].join(',')) ?? 0) + Number(packets));
    assert.deepEqual(rows(guarded, SQL).sort(), [...merged].map(([k, v]) => `${k},${v}`).sort());
    assert.equal(rows(guarded, "SELECT privacy->>'version' FROM imports")[0], '3');
    assert.ok(existsSync(path.join(guarded, 'privacy-policy.json')), 'the store keeps the policy it applied');

    // That store keeps a policy now: an import without --config is refused, and writes nothing.
    const segments = () => readdirSync(path.join(guarded, 'flows'), { recursive: true }).length;
    const count = segments();
    const refused = run(['import', '-q', '--data-dir', guarded, SAMPLE]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^endsight: Cannot import into .*guarded without its privacy policy: the store keeps one \(.*privacy-policy\.json\); give the agent's configuration with --config, or import into another --data-dir\n$/);
    assert.equal(segments(), count);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
