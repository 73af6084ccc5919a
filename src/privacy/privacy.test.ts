/**
 * The privacy policy's parts: the document's checks, the record filter (drop, remove, pseudonymise,
 * truncate, local and remote ends), the signature and version rules of a host's guard, and the
 * minimum group size of fleet answers on a real store.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { FlowRecordBatch, type FlowRecord } from '../flow/index.js';
import { FlowStore } from '../store/index.js';
import { defineEmptyFlows, QueryEngine } from '../query/index.js';
import { parsePolicyDocument, policyFor, PolicyError } from './privacy-policy.js';
import { RecordFilter } from './record-filter.js';
import { signPolicy, verifySignedPolicy } from './signed-policy.js';
import { KEPT_POLICY_FILE, PrivacyGuard } from './privacy-guard.js';
import { MinimumGroupRefused, withMinimumGroup } from './min-group.js';

const silent = pino({ level: 'silent' });

function record(overrides: Partial<FlowRecord>): FlowRecord {
  return {
    host: 'h1', startUs: 1_700_000_000_000_000, endUs: 1_700_000_001_000_000, srcAddr: '10.1.2.3', dstAddr: '192.0.2.77', srcPort: 40000, dstPort: 443,
    protocol: 6, packets: 10, bytes: 1000, tcpFlags: 0x1b, direction: 'out', endReason: 'fin', sampling: 1, interfaceName: 'eth0', source: 'live',
    process: 'curl', pid: 4242, username: 'alice', uid: 1001, container: 'user-1001.slice', command: 'curl https://secret.example/', tunnel: null,
    ...overrides,
  };
}

function batchOf(records: FlowRecord[], ipv4AsNumbers = false): FlowRecordBatch {
  const batch = new FlowRecordBatch();
  for (const r of records) batch.push(r);
  if (ipv4AsNumbers) {
    // As the meter makes them: IPv4 addresses as numbers, code -1.
    for (let i = 0; i < batch.length; i++) {
      for (const [code, number] of [['srcAddr', 'srcIpv4'], ['dstAddr', 'dstIpv4']] as const) {
        const text = batch.strings.value(batch.codes[code][i])!;
        if (text.includes(':')) continue;
        batch.numbers[number][i] = text.split('.').reduce((n, part) => n * 256 + Number(part), 0);
        batch.codes[code][i] = -1;
      }
    }
  }
  return batch;
}

const KEY = Buffer.alloc(32, 7);

describe('privacy policy document', () => {
  it('fills defaults and picks the first matching hosts section', () => {
    const doc = parsePolicyDocument({ version: 3, default: { truncate: { remote_addr: { ipv4: 24, ipv6: 48 } } }, hosts: [{ target: 'tag:trusted', policy: {} }, { target: 'all', policy: { remove: ['command'] } }] }, 'p');
    assert.equal(doc.default.minGroupSize, 1);
    assert.deepEqual(policyFor(doc, { id: 'a', site: null, tags: ['trusted'], addresses: [] }), { policy: doc.hosts[0].policy, section: 'tag:trusted' });
    assert.equal(policyFor(doc, { id: 'b', site: null, tags: [], addresses: [] }).section, 'all');
    const plain = parsePolicyDocument({ version: 1, default: { min_group_size: 4 } }, 'p');
    assert.equal(policyFor(plain, { id: 'b', site: null, tags: [], addresses: [] }).policy.minGroupSize, 4);
  });

  it('lists every problem at once, each with where it is', () => {
    try {
      parsePolicyDocument({ version: 1, default: { drop: [{ port: '70000' }, { proto: 'tcpp' }], pseudonymise: ['pid'] }, hosts: [{ target: 'everyone', policy: {} }] }, 'p.yaml');
      assert.fail('accepted');
    } catch (error) {
      assert.ok(error instanceof PolicyError);
      assert.equal(error.problems.length, 4, error.message);
      assert.match(error.message, /p\.yaml: default\.drop\.0\.port: expected a port/);
      assert.match(error.message, /default\.drop\.1\.proto: expected a protocol number/);
      assert.match(error.message, /default\.pseudonymise\.0: expected one of .*pid and uid can only be removed/);
      assert.match(error.message, /hosts\.0\.target: expected all, host:ID/);
    }
    assert.throws(() => parsePolicyDocument({ version: 1, default: { remove: ['username'], pseudonymise: ['username'] } }, 'p'), /username is both in remove and in pseudonymise/);
  });
});

describe('record filter', () => {
  const records = [
    record({}), // kept: alice's curl to 192.0.2.77
    record({ dstAddr: '10.66.5.5' }), // dropped: HR subnet
    record({ srcAddr: '10.66.9.9', direction: 'in', dstAddr: '10.1.2.3' }), // dropped: HR subnet as the source
    record({ username: 'backup-7', dstPort: 22 }), // dropped: backup user on ssh
    record({ username: 'backup-7', dstPort: 443 }), // kept: the backup user elsewhere
    record({ protocol: 17, srcPort: 5353, dstPort: 6005 }), // dropped: a port in the range
    record({ protocol: 1, srcPort: 0, dstPort: 6005 }), // kept: ICMP's dst_port is type and code, not a port
    record({ srcAddr: 'fd00:1:2:3:4:5:6:7', dstAddr: '2001:db8:aa:bb:cc::1', direction: 'out' }), // kept, IPv6
    record({ srcAddr: '192.0.2.80', dstAddr: '10.1.2.3', direction: 'in', process: null, username: null }), // kept: inbound
  ];
  const policy = parsePolicyDocument(
    {
      version: 1,
      default: {
        drop: [{ addr: '10.66.0.0/16' }, { user: 'backup*', app: 'tcp/22' }, { port: '6000-6010' }],
        remove: ['command', 'pid'],
        pseudonymise: ['username', 'container'],
        truncate: { remote_addr: { ipv4: 24, ipv6: 48 } },
      },
    },
    'p',
  ).default;

  for (const numbers of [false, true]) {
    it(`drops, removes, pseudonymises and truncates (IPv4 as ${numbers ? 'numbers, as the meter makes them' : 'text'})`, () => {
      const filter = new RecordFilter(policy, KEY);
      const out = filter.apply(batchOf(records, numbers)).toRecords();
      assert.equal(filter.counters.dropped, 4);
      assert.equal(out.length, 5);
      const [first, backup, icmp, v6, inbound] = out;
      assert.equal(first.srcAddr, '10.1.2.3', 'the local end stays');
      assert.equal(first.dstAddr, '192.0.2.0', 'the remote end keeps its /24');
      assert.equal(first.command, null);
      assert.equal(first.pid, null);
      assert.equal(first.uid, 1001, 'uid is not in the policy');
      assert.equal(first.process, 'curl');
      assert.match(first.username!, /^~[0-9a-f]{16}$/);
      assert.notEqual(first.username, backup.username);
      assert.match(first.container!, /^~[0-9a-f]{16}$/);
      assert.equal(icmp.dstPort, 6005);
      assert.equal(v6.srcAddr, 'fd00:1:2:3:4:5:6:7');
      assert.equal(v6.dstAddr, '2001:db8:aa::');
      assert.equal(inbound.srcAddr, '192.0.2.0', 'inbound: the source is the remote end');
      assert.equal(inbound.dstAddr, '10.1.2.3');
      // The same value gets the same pseudonym within and across batches; another key, another one.
      const again = new RecordFilter(policy, KEY).apply(batchOf([record({})], numbers)).toRecords()[0];
      assert.equal(again.username, first.username);
      const otherKey = new RecordFilter(policy, Buffer.alloc(32, 8)).apply(batchOf([record({})], numbers)).toRecords()[0];
      assert.notEqual(otherKey.username, first.username);
    });
  }

  it('keeps no filtered value in the batch it passes on, not even in its dictionary', () => {
    const out = new RecordFilter(policy, KEY).apply(batchOf(records));
    const strings = out.strings.values.join('\n');
    for (const secret of ['alice', 'backup-7', '10.66.5.5', '10.66.9.9', 'secret.example', '192.0.2.77', '192.0.2.80', 'user-1001', '2001:db8:aa:bb:cc::1']) {
      assert.ok(!strings.includes(secret), `${secret} in ${JSON.stringify(out.strings.values)}`);
    }
  });

  it('removes pseudonymised fields when there is no key, and matches process, uid and interface rules', () => {
    const noKey = new RecordFilter(parsePolicyDocument({ version: 1, default: { pseudonymise: ['username', 'remote_addr'] } }, 'p').default, null);
    const out = noKey.apply(batchOf([record({})]));
    const [r] = out.toRecords();
    assert.equal(r.username, null);
    // Stored as NULL (no text, no number); as a record object it reads as the unspecified address.
    assert.deepEqual([out.codes.dstAddr[0], out.numbers.dstIpv4[0], r.dstAddr], [-1, NaN, '0.0.0.0']);
    const rules = new RecordFilter(parsePolicyDocument({ version: 1, default: { drop: [{ process: 'ssh?' }, { uid: 0 }, { interface: 'tun*', proto: 'udp' }] } }, 'p').default, null);
    const kept = rules.apply(batchOf([record({ process: 'sshd' }), record({ uid: 0 }), record({ interfaceName: 'tun0', protocol: 17 }), record({ interfaceName: 'tun0' }), record({ process: 'ssh' })]));
    assert.deepEqual(kept.toRecords().map((k) => k.process), ['curl', 'ssh']);
  });

  it('truncates both ends of a transit flow and neither end of a local one for remote_addr', () => {
    const filter = new RecordFilter(parsePolicyDocument({ version: 1, default: { truncate: { remote_addr: { ipv4: 16, ipv6: 32 } } } }, 'p').default, null);
    const [transit, local] = filter.apply(batchOf([record({ direction: 'transit' }), record({ direction: 'local', dstAddr: '10.1.9.9' })])).toRecords();
    assert.deepEqual([transit.srcAddr, transit.dstAddr], ['10.1.0.0', '192.0.0.0']);
    assert.deepEqual([local.srcAddr, local.dstAddr], ['10.1.2.3', '10.1.9.9']);
  });
});

describe('signed policies and the host guard', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ed25519');
  const v = (version: number, extra: object = {}) => signPolicy(privateKey, { version, default: { remove: ['command'], ...extra } }, { audience: 'lab', issuer: 'tester' });
  let dir = '';
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'endsight-privacy-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('verifies the signature and the audience, and refuses a bad policy before signing it', () => {
    const signed = v(1);
    assert.equal(verifySignedPolicy(JSON.stringify(signed), publicKey, 'lab').document.version, 1);
    assert.throws(() => verifySignedPolicy(JSON.stringify(signed), other.publicKey, 'lab'), /signature is not the authority's/);
    assert.throws(() => verifySignedPolicy(JSON.stringify(signed), publicKey, 'prod'), /for fleet "lab"/);
    const tampered = { ...signed, policy: signed.policy.replace('"command"', '"process"') };
    assert.throws(() => verifySignedPolicy(JSON.stringify(tampered), publicKey, 'lab'), /signature/);
    assert.throws(() => signPolicy(privateKey, { version: 1, default: { drop: [{}] } }, { audience: 'lab', issuer: 't' }), PolicyError);
  });

  it('applies newer versions only, keeps the policy in the store, and applies it again at the next start', async () => {
    const options = { authority: publicKey, audience: 'lab', identity: () => ({ id: 'h1', site: null, tags: [], addresses: [] }), key: KEY, dataDir: dir, log: silent };
    const guard = await PrivacyGuard.open(options, JSON.stringify(v(2)));
    assert.equal(guard.status().version, 2);
    assert.deepEqual(guard.policy.remove, ['command']);
    assert.deepEqual(await guard.offer(JSON.stringify(v(2)), 'test'), { ok: true, version: 2, applied: false, section: 'default' }, 'the same policy again');
    const older = await guard.offer(JSON.stringify(v(1)), 'test');
    assert.ok(!older.ok && /older than the applied version 2/.test(older.error));
    const sameVersion = await guard.offer(JSON.stringify(v(2, { pseudonymise: ['username'] })), 'test');
    assert.ok(!sameVersion.ok && /needs a higher version/.test(sameVersion.error));
    const forged = await guard.offer(JSON.stringify(signPolicy(other.privateKey, { version: 9, default: {} }, { audience: 'lab', issuer: 'x' })), 'test');
    assert.ok(!forged.ok && /signature/.test(forged.error));
    assert.deepEqual(await guard.offer(JSON.stringify(v(3, { min_group_size: 5 })), 'test'), { ok: true, version: 3, applied: true, section: 'default' });
    assert.equal(guard.policy.minGroupSize, 5);
    assert.deepEqual(readdirSync(dir), [KEPT_POLICY_FILE], 'kept, with no temporary file left');
    // A restart with the older configured file: the kept, newer policy wins.
    const restarted = await PrivacyGuard.open(options, JSON.stringify(v(2)));
    assert.equal(restarted.status().version, 3);
    // A kept policy that no longer verifies stops the start: the host never runs with less than it had.
    await assert.rejects(PrivacyGuard.open({ ...options, authority: other.publicKey }, null), /privacy-policy\.json: the signature is not the authority's.*remove it/);
    const kept = readFileSync(path.join(dir, KEPT_POLICY_FILE), 'utf8');
    writeFileSync(path.join(dir, KEPT_POLICY_FILE), kept.slice(0, 20));
    await assert.rejects(PrivacyGuard.open(options, null), /not JSON/);
    writeFileSync(path.join(dir, KEPT_POLICY_FILE), kept);
  });

  it('gives a trusted host its own section', async () => {
    const trustedDir = mkdtempSync(path.join(dir, 't-'));
    const signed = signPolicy(privateKey, { version: 1, default: { pseudonymise: ['username'] }, hosts: [{ target: 'tag:trusted', policy: {} }] }, { audience: 'lab', issuer: 't' });
    const guard = await PrivacyGuard.open({ authority: publicKey, audience: 'lab', identity: () => ({ id: 'db1', site: null, tags: ['trusted'], addresses: [] }), key: KEY, dataDir: trustedDir, log: silent }, JSON.stringify(signed));
    assert.equal(guard.status().section, 'tag:trusted');
    assert.equal(guard.apply(batchOf([record({})])).toRecords()[0].username, 'alice');
  });
});

describe('minimum group size of fleet answers', () => {
  let dir = '';
  let engine: QueryEngine;
  let instance: DuckDBInstance;
  let planner: DuckDBConnection;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-mingroup-'));
    const store = await FlowStore.open(dir);
    // alice: 6 flows, bob: 2, carol: 1.
    const users = ['alice', 'alice', 'alice', 'alice', 'alice', 'alice', 'bob', 'bob', 'carol'];
    store.append(batchOf(users.map((username, i) => record({ username, startUs: 1_700_000_000_000_000 + i * 1000, bytes: 100 * (i + 1) }))));
    await store.flush();
    await store.close();
    engine = await QueryEngine.open(dir);
    instance = await DuckDBInstance.create(':memory:');
    planner = await instance.connect();
    await defineEmptyFlows(planner);
  });

  after(() => {
    engine?.close();
    planner?.closeSync();
    instance?.closeSync();
    rmSync(dir, { recursive: true, force: true });
  });

  async function rows(sql: string): Promise<unknown[][]> {
    const out: unknown[][] = [];
    for await (const part of engine.stream(sql)) out.push(...part.rows);
    return out;
  }

  it('leaves out groups smaller than k, and keeps a HAVING of the query', async () => {
    const grouped = await withMinimumGroup(planner, 'SELECT username, count(*) AS n, sum(bytes) AS b FROM flows GROUP BY username ORDER BY n DESC', 2);
    assert.deepEqual(await rows(grouped), [['alice', 6, 2100], ['bob', 2, 1500]]);
    assert.deepEqual(await rows(await withMinimumGroup(planner, 'SELECT username, count(*) FROM flows GROUP BY 1 ORDER BY 1', 3)), [['alice', 6]]);
    assert.deepEqual(await rows(await withMinimumGroup(planner, 'SELECT username FROM flows GROUP BY 1 HAVING sum(bytes) < 2000', 2)), [['bob']]);
    assert.deepEqual(await rows(await withMinimumGroup(planner, 'SELECT count(*) FROM flows', 10)), [], 'one group of 9 flows, under 10');
  });

  it('refuses row queries and queries whose rows are not flows', async () => {
    await assert.rejects(withMinimumGroup(planner, 'SELECT username, bytes FROM flows', 2), (e: Error) => e instanceof MinimumGroupRefused && /returns single flows/.test(e.message));
    for (const sql of [
      'WITH f AS (SELECT * FROM flows) SELECT username, count(*) FROM f GROUP BY 1',
      'SELECT username, count(*) FROM flows, range(10) GROUP BY 1',
      'SELECT username, count(*) FROM (SELECT * FROM flows) GROUP BY 1',
      'SELECT username, count(*) FROM flows GROUP BY 1 UNION ALL SELECT username, count(*) FROM flows GROUP BY 1',
    ]) {
      await assert.rejects(withMinimumGroup(planner, sql, 2), MinimumGroupRefused, sql);
    }
  });
});
