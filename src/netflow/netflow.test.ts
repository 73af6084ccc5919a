/**
 * NetFlow v5, v9 and IPFIX: records encoded and decoded back field for field (the host context in
 * IPFIX's enterprise elements), templates kept apart per exporter and domain, replaced, expired and
 * bounded, sampling from options records, sequence gaps counted, and each kind of malformed message
 * of the issue counted and dropped with the good messages around it still read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IssueCounter } from '../common/issue-counter.js';
import type { FlowRecord } from '../flow/index.js';
import { CollectedFlows } from './collected-flows.js';
import { decodeMessage, NetflowIssue, type SamplingRates } from './netflow-decoder.js';
import { NetflowEncoder } from './netflow-encoder.js';
import { TemplateCache } from './template-cache.js';
import { sampleRecord } from './test-records.js';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { Rng } from '../bench/prng.js';
import { formatAddress } from '../decode/index.js';
import { FlowStore } from '../store/index.js';
import { writeIpv6 } from '../store/fast-segment.js';

function decodeAll(messages: Uint8Array[], cache = new TemplateCache(), rates: SamplingRates = new Map(), exporter = '192.0.2.1:9995') {
  const issues = new IssueCounter();
  const out = new CollectedFlows();
  for (const m of messages) decodeMessage(m, exporter, exporter.replace(/:\d+$/, ''), cache, rates, 0, issues, out);
  return { flows: out.take().toRecords(), issues: issues.toJSON() };
}

/** How many flows one message gives. */
function flowsOf(message: Uint8Array, exporter: string, cache: TemplateCache, issues: IssueCounter): number | undefined {
  return decodeMessage(message, exporter, exporter.replace(/:\d+$/, ''), cache, new Map(), 0, issues, new CollectedFlows())?.flows;
}

for (const version of [5, 9, 10] as const) {
  test(`NetFlow ${version === 10 ? 'IPFIX' : `v${version}`}: records come back as encoded`, () => {
    const records = Array.from({ length: 70 }, (_, i) => sampleRecord(i, version !== 5 && i % 3 === 0));
    const encoder = new NetflowEncoder(version, 7);
    const messages = encoder.encode(records);
    // Each fits one datagram of a 1,500-byte MTU (v5: 30 records, 1,464 bytes).
    assert.ok(messages.length > 1 && messages.every((m) => m.length <= 1472), `${messages.length} messages`);
    const { flows, issues } = decodeAll(messages);
    assert.deepEqual(issues, {});
    const expected = version === 5 ? records.filter((r) => !r.srcAddr.includes(':')) : records;
    assert.equal(flows.length, expected.length);
    flows.forEach((f, i) => {
      const r = expected[i];
      assert.deepEqual(
        [f.srcAddr, f.dstAddr, f.srcPort, f.dstPort, f.protocol, f.packets, f.bytes, f.tcpFlags],
        [r.srcAddr, r.dstAddr, r.srcPort, r.dstPort, r.protocol, r.packets, r.bytes, r.tcpFlags],
        `record ${i}`,
      );
      // Milliseconds on the wire.
      assert.equal(f.startUs, Math.floor(r.startUs / 1000) * 1000);
      assert.equal(f.endUs, Math.floor(r.endUs / 1000) * 1000);
      assert.equal(f.endReason, version === 5 ? 'exporter' : 'fin');
      assert.equal(f.host, '192.0.2.1');
      assert.equal(f.source, `${version === 5 ? 'netflow-v5' : version === 9 ? 'netflow-v9' : 'ipfix'}:192.0.2.1`);
      // The host context: in IPFIX's enterprise elements only.
      const context = (x: FlowRecord) => ({ process: x.process, pid: x.pid, username: x.username, uid: x.uid, container: x.container, direction: x.direction });
      assert.deepEqual(context(f), version === 10 ? { process: 'curl', pid: 4242, username: 'alice', uid: 1000, container: null, direction: 'out' } : { process: null, pid: null, username: null, uid: null, container: null, direction: 'unknown' });
    });
  });
}

test('templates: per exporter and domain, replaced with another layout (counted), expired, bounded', () => {
  const issues = new IssueCounter();
  const cache = new TemplateCache(3, 1000);
  const [first] = new NetflowEncoder(10, 1).encode([sampleRecord(0)]);
  // Data only (templates are in the first message of each encoder): another domain has no template yet.
  const encoder = new NetflowEncoder(10, 2);
  encoder.encode([sampleRecord(0)]);
  const [dataOnly] = encoder.encode([sampleRecord(1)]);
  assert.equal(flowsOf(first, 'a:1', cache, issues), 1);
  assert.equal(flowsOf(dataOnly, 'a:1', cache, issues), 0);
  assert.equal(issues.toJSON()[NetflowIssue.DATA_WITHOUT_TEMPLATE], 1);
  // The same domain from another exporter: its own templates.
  assert.equal(flowsOf(first, 'b:1', cache, issues), 1);
  // Bounded at 3: the least recently refreshed goes.
  assert.equal(cache.size, 3);
  assert.ok((issues.toJSON()[NetflowIssue.TEMPLATE_CACHE_FULL] ?? 0) >= 1);
  // Expired after 1 s without a refresh.
  assert.equal(cache.get('b:1|10|1|256', 5000), undefined);
  // Same ID, another layout: replaced and counted.
  const c = new TemplateCache();
  c.set('x|10|0|256', [{ id: 8, enterprise: 0, length: 4 }], false, 0);
  assert.equal(c.set('x|10|0|256', [{ id: 12, enterprise: 0, length: 4 }], false, 0), 'changed');
});

test('sampling from an options record (or the v5 header) is kept with each flow and scales its counts', () => {
  const rates: SamplingRates = new Map();
  const messages = new NetflowEncoder(10, 3, 64).encode([sampleRecord(0), sampleRecord(1)]);
  const { flows, issues } = decodeAll(messages, new TemplateCache(), rates);
  assert.deepEqual(issues, {});
  assert.deepEqual(flows.map((f) => f.sampling), [64, 64]);
  assert.deepEqual(flows.map((f) => [f.packets, f.bytes]), [0, 1].map((i) => [sampleRecord(i).packets * 64, sampleRecord(i).bytes * 64]));
  const v9 = decodeAll(new NetflowEncoder(9, 3, 16).encode([sampleRecord(0)]));
  assert.deepEqual(v9.flows.map((f) => f.sampling), [16]);
  const v5 = decodeAll(new NetflowEncoder(5, 3, 100).encode([sampleRecord(0)]));
  assert.deepEqual(v5.flows.map((f) => f.sampling), [100]);
});

test('malformed messages are counted by reason and dropped; good ones around them are read', () => {
  const good = new NetflowEncoder(10, 0).encode([sampleRecord(0)])[0];
  const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const ipfix = (sets: number[][]): Uint8Array => {
    const body = sets.flat();
    const b = new Uint8Array(16 + body.length);
    view(b).setUint16(0, 10);
    view(b).setUint16(2, b.length);
    b.set(body, 16);
    return b;
  };
  const u16 = (n: number): number[] => [(n >> 8) & 255, n & 255];
  const set = (id: number, body: number[]): number[] => [...u16(id), ...u16(4 + body.length), ...body];
  const cases: [string, Uint8Array, string][] = [
    ['a template with no fields', ipfix([set(2, [...u16(300), ...u16(0)])]), 'none'],
    ['a zero-length field', ipfix([set(2, [...u16(300), ...u16(1), ...u16(8), ...u16(0)])]), NetflowIssue.BAD_TEMPLATE],
    ['a set longer than the message', ipfix([[...u16(2), ...u16(400), 0, 0, 0, 0]]), NetflowIssue.BAD_SET_LENGTH],
    ['a set shorter than its header', ipfix([[...u16(2), ...u16(2), 0, 0]]), NetflowIssue.BAD_SET_LENGTH],
    ['a message length past the datagram', (() => { const b = good.slice(); view(b).setUint16(2, b.length + 10); return b; })(), NetflowIssue.BAD_LENGTH],
    ['a data record cut short', ipfix([set(2, [...u16(301), ...u16(1), ...u16(8), ...u16(4)]), set(301, [10, 0, 0])]), 'none'],
    ['a variable-length field that lies', ipfix([set(2, [...u16(302), ...u16(2), ...u16(8), ...u16(4), ...u16(82), ...u16(0xffff)]), set(302, [10, 0, 0, 1, 200, 1, 2])]), NetflowIssue.BAD_RECORD],
    ['data before its template', ipfix([set(999, [1, 2, 3, 4])]), NetflowIssue.DATA_WITHOUT_TEMPLATE],
    ['an unknown version', Uint8Array.from([0, 7, 0, 0, 0, 0]), NetflowIssue.UNKNOWN_VERSION],
    ['a v5 count past the datagram', Uint8Array.from([0, 5, 0, 30, ...new Array(40).fill(0)]), NetflowIssue.V5_BAD_COUNT],
    ['four bytes', Uint8Array.from([0, 10, 0, 4]), NetflowIssue.TRUNCATED_HEADER],
  ];
  for (const [label, bad, reason] of cases) {
    const issues = new IssueCounter();
    const cache = new TemplateCache();
    const before = flowsOf(good, 'x:1', cache, issues);
    const middle = flowsOf(bad, 'x:1', cache, issues);
    const after = flowsOf(good, 'x:1', cache, issues);
    assert.equal(before, 1, label);
    assert.equal(after, 1, `${label}: the good message after it`);
    assert.equal(middle ?? 0, 0, label);
    if (reason !== 'none') assert.ok((issues.toJSON()[reason] ?? 0) >= 1, `${label}: ${JSON.stringify(issues.toJSON())}`);
  }
  // A v5 packet on the IPFIX port is just a v5 packet: read as v5.
  const v5 = new NetflowEncoder(5).encode([sampleRecord(0)])[0];
  assert.equal(decodeAll([v5]).flows.length, 1);
});

test('IPv6 addresses kept as bytes are written to fast segments exactly as their RFC 5952 text', async () => {
  // The byte formatter against formatAddress: random addresses, most groups zero (runs to compress), some IPv4-mapped.
  const rng = new Rng(6);
  const bytes = new Uint8Array(16);
  const text = new Uint8Array(64);
  const words = new Uint32Array(4);
  for (let n = 0; n < 200_000; n++) {
    for (let g = 0; g < 8; g++) {
      const v = rng.next() < 0.6 ? 0 : rng.next() < 0.5 ? rng.int(16) : rng.int(65536);
      bytes[g * 2] = v >> 8;
      bytes[g * 2 + 1] = v & 255;
    }
    if (rng.next() < 0.05) bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255], 0);
    for (let w = 0; w < 4; w++) words[w] = new DataView(bytes.buffer).getUint32(w * 4);
    const end = writeIpv6(text, 0, bytes, 0);
    assert.equal(Buffer.from(text.subarray(0, end)).toString('latin1'), formatAddress(words, 6));
  }
  // Whole segments: the same IPFIX messages decoded with IPv6 as text and as bytes, each into a fast store.
  const edge = ['::', '::1', '1::', 'fe80::', '2001:db8::1:0:0:1', '1:0:0:2::3', '::ffff:1.2.3.4', '::ffff:0.0.0.0', '1:2:3:4:5:6:7:8', '0:1:0:1:0:1:0:1'];
  const records = Array.from({ length: 3000 }, (_, i) => {
    const r = sampleRecord(i, i % 2 === 0);
    if (i % 2 === 0) r.dstAddr = edge[i % edge.length];
    if (i % 6 === 0) r.srcAddr = edge[(i >> 3) % edge.length];
    return r;
  });
  const encoder = new NetflowEncoder(10, 3);
  const messages = encoder.encode(records);
  const encoded = records.filter((r) => !r.srcAddr.endsWith('.256')); // sampleRecord's 255th IPv4 is no address: the encoder skips it
  assert.equal(encoder.skipped, records.length - encoded.length);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-ipv6-bytes-'));
  try {
    const rows: string[][] = [];
    for (const asBytes of [false, true]) {
      const cache = new TemplateCache();
      const out = new CollectedFlows(1024, asBytes);
      for (const m of messages) decodeMessage(m, '192.0.2.1:9995', '192.0.2.1', cache, new Map(), 0, new IssueCounter(), out);
      const store = await FlowStore.open(path.join(dir, String(asBytes)), { quotaBytes: 1e9, fastWrites: true });
      for (const chunk of out.takeChunks()) store.append(chunk);
      const [segment] = (await store.flush()).segments;
      await store.close();
      const db = await DuckDBInstance.create(':memory:');
      const c = await db.connect();
      rows.push((await c.runAndReadAll(`SELECT * FROM read_parquet('${segment}', hive_partitioning = false) ORDER BY start_time`)).getRows().map((r) => r.map(String).join('|')));
      c.closeSync();
      db.closeSync();
    }
    assert.equal(rows[1].length, encoded.length);
    assert.deepEqual(rows[1], rows[0]);
    assert.deepEqual(rows[1].map((r) => r.split('|')[3]), encoded.map((r) => r.srcAddr));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
