import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FlowStore } from '../store/index.js';
import { testBatch } from '../store/test-records.js';
import { communityId } from '../flow/index.js';
import { formatAddress, parseAddress } from '../decode/index.js';
import { QueryEngine } from './query-engine.js';
import { windowBetween } from './time-window.js';

const T0 = Date.UTC(2026, 10, 1) * 1000;

async function storeWith(count: number): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-query-'));
  const store = await FlowStore.open(dir, { quotaBytes: 1e9 });
  if (count > 0) {
    store.append(testBatch(count, T0));
    await store.flush();
  }
  await store.close();
  return dir;
}

test('QueryEngine returns every stored record with the columns PRODUCT.md names', async () => {
  const dir = await storeWith(300);
  const expected = testBatch(300, T0).toRecords();
  const engine = await QueryEngine.open(dir);
  const { columns, rows } = await engine.all(
    'SELECT *, epoch_us(start_time) AS s, epoch_us(end_time) AS e FROM flows ORDER BY start_time',
  );
  engine.close();
  assert.deepEqual(columns.slice(0, 24).map((c) => c.name), [
    'host', 'start_time', 'end_time', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 'packets', 'bytes',
    'tcp_flags', 'direction', 'process', 'pid', 'username', 'uid', 'container', 'end_reason', 'sampling',
    'community_id', 'interface', 'source', 'command', 'tunnel',
  ]);
  assert.equal(rows.length, 300);
  const at = (name: string) => columns.findIndex((c) => c.name === name);
  rows.forEach((row, i) => {
    const r = expected[i];
    assert.equal(row[at('s')], r.startUs);
    assert.equal(row[at('e')], r.endUs);
    assert.equal(row[at('src_addr')], r.srcAddr);
    assert.equal(row[at('dst_addr')], r.dstAddr);
    assert.equal(row[at('src_port')], r.srcPort);
    assert.equal(row[at('packets')], r.packets);
    assert.equal(row[at('bytes')], r.bytes);
    assert.equal(row[at('process')], r.process);
    assert.equal(row[at('pid')], r.pid);
    assert.equal(row[at('username')], null);
    assert.equal(row[at('community_id')], communityId(r.srcAddr, r.dstAddr, r.srcPort, r.dstPort, r.protocol));
  });
  assert.match(String(rows[0][at('start_time')]), /^2026-11-01T00:00:00\.000000Z$/);
});

test('QueryEngine works on an empty store', async () => {
  const engine = await QueryEngine.open(await storeWith(0));
  const { rows } = await engine.all('SELECT count(*) AS n, sum(bytes) AS b FROM flows');
  engine.close();
  assert.deepEqual(rows, [[0, null]]);
});

test('QueryEngine refuses anything but one SELECT, and cannot touch files', async () => {
  const dir = await storeWith(10);
  const engine = await QueryEngine.open(dir);
  const refused = [
    ['DELETE FROM flows', /only SELECT/],
    ['DROP VIEW flows', /only SELECT/],
    ['CREATE TABLE x AS SELECT 1', /only SELECT/],
    [`COPY (SELECT 1) TO '${dir}/flows/evil.csv'`, /only SELECT/],
    ['SELECT 1; SELECT 2', /exactly one/],
    ["SELECT * FROM read_csv('/etc/passwd')", /Permission Error|disabled/],
    ["ATTACH '/tmp/x.db'", /only SELECT|Permission/],
    ['SET enable_external_access = true', /only SELECT/],
    ['SELEC 1', /syntax error/i],
    [`EXPLAIN ANALYZE COPY (SELECT 1) TO '${dir}/flows/evil.csv'`, /only SELECT/],
    ['EXPLAIN ANALYZE DELETE FROM flows', /only SELECT/],
    ['SELECT nosuchcolumn FROM flows', /nosuchcolumn/],
  ] as const;
  for (const [sql, message] of refused) {
    await assert.rejects(engine.all(sql), (e: Error) => e.name === 'QueryError' && message.test(e.message), sql);
  }
  const { rows } = await engine.all('SELECT count(*) FROM flows');
  assert.deepEqual(rows, [[10]]);
  const plan = await engine.all('EXPLAIN ANALYZE SELECT count(*) FROM flows');
  assert.match(String(plan.rows[0][1]), /READ_PARQUET|TABLE_SCAN|Query Profiling/i);
  engine.close();
  assert.deepEqual((await fs.readdir(path.join(dir, 'flows'))).filter((f) => !f.startsWith('day=')), []);
});

test('QueryEngine time window keeps flows overlapping it', async () => {
  const dir = await storeWith(100); // starts T0, one a second, each up to 5 s long
  const window = windowBetween(`${new Date(T0 / 1000 + 10_000).toISOString()}/${new Date(T0 / 1000 + 20_000).toISOString()}`);
  const engine = await QueryEngine.open(dir, { window });
  const { rows } = await engine.all('SELECT min(start_time) < make_timestamp(' + (T0 + 10_000_000) + '), max(start_time) FROM flows');
  engine.close();
  assert.equal(rows[0][0], true, 'a flow started before the window but still active in it is included');
  assert.equal(rows[0][1], '2026-11-01T00:00:19.000000Z');
});

test('community_id SQL macro equals the reference implementation and the spec example', async () => {
  const engine = await QueryEngine.open(await storeWith(0));
  const cases: [string, string, number, number, number][] = [
    ['128.232.110.120', '66.35.250.204', 34855, 80, 6],
    ['66.35.250.204', '128.232.110.120', 80, 34855, 6],
    ['10.0.0.1', '10.0.0.1', 80, 1234, 17],
    ['2001:db8::1', 'fe80::1:2', 5353, 53, 17],
    ['::ffff:192.0.2.1', '2001:db8:0:0:1:0:0:1', 1, 2, 132],
    ['10.0.0.1', '10.0.0.2', 0, 8 * 256, 1],
    ['10.0.0.2', '10.0.0.1', 0, 0, 1],
    ['10.0.0.1', '10.0.0.2', 0, 3 * 256 + 1, 1],
    ['2001:db8::2', '2001:db8::1', 0, 128 * 256, 58],
    ['2001:db8::2', '2001:db8::1', 0, 135 * 256, 58],
    ['2001:db8::2', '2001:db8::1', 0, 1 * 256 + 4, 58],
    ['10.0.0.1', '10.0.0.2', 0, 0, 50],
    ['fd00::1', 'fd00::2', 0, 0, 47],
  ];
  for (const [a, b, x, y, p] of cases) {
    const { rows } = await engine.all(`SELECT community_id('${a}', '${b}', ${x}, ${y}, ${p})`);
    assert.equal(rows[0][0], communityId(a, b, x, y, p), `${a} ${b} ${x} ${y} ${p}`);
  }
  const { rows } = await engine.all(`SELECT community_id('128.232.110.120', '66.35.250.204', 34855, 80, 6)`);
  engine.close();
  assert.equal(rows[0][0], '1:LQU9qZlK+B5F3KDmev6m5PMibrg='); // the spec's README example
});

test('in_cidr and ip_hex handle both families and reject malformed prefixes', async () => {
  const engine = await QueryEngine.open(await storeWith(0));
  const truth: [string, string, boolean][] = [
    ['10.1.2.3', '10.0.0.0/8', true],
    ['11.1.2.3', '10.0.0.0/8', false],
    ['10.1.2.3', '10.1.2.3', true],
    ['10.1.2.3', '0.0.0.0/0', true],
    ['192.168.1.255', '192.168.1.128/25', true],
    ['192.168.1.127', '192.168.1.128/25', false],
    ['2001:db8::1', '2001:db8::/32', true],
    ['2001:db9::1', '2001:db8::/32', false],
    ['::ffff:10.0.0.1', '::ffff:0:0/96', true],
    ['10.0.0.1', '::/0', false],
    ['fe80::1', '10.0.0.0/8', false],
    // Whole-octet prefixes take the text path: dots matter, the prefix's octets are made canonical.
    ['10.1.2.3', '10.1.0.0/16', true],
    ['10.10.2.3', '10.1.0.0/16', false],
    ['100.1.2.3', '10.0.0.0/8', false],
    ['10.1.2.30', '10.1.2.3/32', false],
    ['10.1.2.3', '010.001.0.0/16', true],
    ['192.168.1.7', '192.168.1.99/24', true],
    // IPv6 text never has a '.' before its first ':': no IPv6 address matches an IPv4 octet prefix.
    ['10::1', '10.0.0.0/8', false],
    ['64:ff9b::10.0.0.1', '10.0.0.0/8', false],
    ['::ffff:10.0.0.1', '10.0.0.0/8', false],
    ['::ffff:10.0.0.1', '0.0.0.0/0', false],
  ];
  for (const [address, prefix, expected] of truth) {
    const { rows } = await engine.all(`SELECT in_cidr('${address}', '${prefix}')`);
    assert.equal(rows[0][0], expected, `${address} in ${prefix}`);
  }
  // The text path agrees with the numeric test on many addresses and whole-octet prefixes.
  const agree = await engine.all(`
    WITH a AS (SELECT (i % 7) || '.' || (i // 7 % 5) || '.' || (i // 35 % 3 + 9) || '.' || (i // 105 % 11) AS addr FROM range(1155) t(i)),
         p AS (SELECT * FROM (VALUES ('1.0.0.0/8'), ('1.2.0.0/16'), ('3.4.10.0/24'), ('6.1.9.10/32'), ('0.0.0.0/0'), ('1.20.0.0/16')) v(prefix))
    SELECT count(*) FILTER (WHERE in_cidr(addr, prefix) IS DISTINCT FROM
      (ip4_int(addr) >> (32 - cidr_length(prefix)) = ip4_int(split_part(prefix, '/', 1)) >> (32 - cidr_length(prefix)))), count(*) FROM a, p`);
  assert.deepEqual(agree.rows[0], [0, 1155 * 6]);
  const { rows } = await engine.all(`SELECT ip_hex('2001:db8::1'), ip_hex('::'), ip_hex('::ffff:192.0.2.1'), ip_hex('10.0.0.255')`);
  assert.deepEqual(rows[0], ['20010db8000000000000000000000001', '0'.repeat(32), '00000000000000000000ffffc0000201', '0a0000ff']);
  for (const bad of ['10.0.0.0/33', 'banana', '10.0.0.0/x', '2001:db8::/129']) {
    await assert.rejects(engine.all(`SELECT in_cidr('10.0.0.1', '${bad}')`), new RegExp(`"${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" is not a CIDR prefix`));
  }
  engine.close();
});

test('ip_hex agrees with parseAddress on random addresses in every spelling', async () => {
  const engine = await QueryEngine.open(await storeWith(0));
  let x = 12345;
  const random = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  const texts: string[] = [];
  for (let i = 0; i < 300; i++) {
    const words = Uint32Array.of(random(), i % 3 === 0 ? 0 : random(), i % 5 === 0 ? 0 : random(), random() & (i % 2 ? 0xffff : 0));
    if (i % 7 === 0) words.fill(0, 1, 3);
    const canonical = formatAddress(words, 6);
    const full = [...words].flatMap((w) => [(w >>> 16).toString(16).padStart(4, '0'), (w & 0xffff).toString(16).padStart(4, '0')]).join(':');
    texts.push(canonical, canonical.toUpperCase(), full, formatAddress(Uint32Array.of(words[0]), 4));
  }
  texts.push('::', '::1', '1::', '::ffff:10.1.2.3', '64:ff9b::192.0.2.33', '2001:db8:0:0:0:0:2:1');
  const { rows } = await engine.all(`SELECT ip_hex(a) FROM (VALUES ${texts.map((t) => `('${t}')`).join(', ')}) v(a)`);
  engine.close();
  texts.forEach((text, i) => {
    const parsed = parseAddress(text)!;
    const expected = [...parsed.words.subarray(0, parsed.ipVersion === 4 ? 1 : 4)].map((w) => w.toString(16).padStart(8, '0')).join('');
    assert.equal(rows[i][0], expected, text);
  });
});
