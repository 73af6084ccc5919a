/**
 * Fuzz test of the collector (issue 6): 1,000,000 seeded datagrams (FUZZ_SEED repeats a run;
 * FUZZ_CASES changes the count) built from valid v5, v9 and IPFIX messages by flipping, cutting,
 * splicing and inflating them, handed to the collector's message handler; then 20,000 of them sent
 * over a real UDP socket. Nothing may throw, the template cache stays within its bound, and good
 * messages after the flood are still read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Rng } from '../bench/prng.js';
import { fuzzSeed } from '../common/fuzz-text.js';
import type { FlowStore } from '../store/index.js';
import { MessageListeners, NetflowCollector } from './collector.js';
import { NetflowEncoder } from './netflow-encoder.js';
import { sampleRecord } from './test-records.js';
import { MAX_TEMPLATES, TemplateCache } from './template-cache.js';
import { decodeMessage, useRolePlans } from './netflow-decoder.js';
import { CollectedFlows } from './collected-flows.js';
import { IssueCounter } from '../common/issue-counter.js';

const SEED = fuzzSeed('netflow');
const CASES = Number(process.env.FUZZ_CASES ?? 1_000_000);

function seeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const version of [5, 9, 10] as const) {
    for (const sampling of [1, 10]) {
      const encoder = new NetflowEncoder(version, 1, sampling);
      out.push(...encoder.encode([0, 1, 2, 3].map((i) => sampleRecord(i, version !== 5 && i % 2 === 1))));
      out.push(...encoder.encode([sampleRecord(9)])); // a data-only message
    }
  }
  return out;
}

function mutate(rng: Rng, pool: Uint8Array[]): Uint8Array {
  const base = pool[rng.int(pool.length)];
  let b = base.slice();
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const r = rng.next();
    if (r < 0.35 && b.length > 0) b[rng.int(b.length)] = rng.int(256);
    else if (r < 0.5 && b.length > 2) {
      // A length or ID field set to an extreme.
      const at = rng.int(b.length - 1);
      const v = [0, 1, 2, 3, 4, 255, 256, 0x7fff, 0x8000, 0xffff][rng.int(10)];
      b[at] = v >> 8;
      b[at + 1] = v & 255;
    } else if (r < 0.65) b = b.slice(0, rng.int(b.length + 1));
    else if (r < 0.8) {
      const other = pool[rng.int(pool.length)];
      const cut = rng.int(b.length + 1);
      b = Uint8Array.from([...b.subarray(0, cut), ...other.subarray(rng.int(other.length + 1))]);
    } else if (r < 0.9 && b.length < 4000) {
      const at = rng.int(b.length + 1);
      b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at, at + 64), ...b.subarray(at)]);
    } else b = Uint8Array.from({ length: rng.int(80) }, () => rng.int(256));
  }
  return b;
}

/** A store that only counts: the fuzz test is about the handler. */
function countingStore(): FlowStore {
  let records = 0;
  return {
    append: (batch: { length: number }) => void (records += batch.length),
    flush: async () => ({ records, segments: [], bytesWritten: 0, retention: { deleted: [], bytesFreed: 0 } }),
  } as unknown as FlowStore;
}

test(`collector fuzz: ${CASES} mutated datagrams, no throw, bounded templates, good messages still read (FUZZ_SEED=${SEED})`, async () => {
  const rng = new Rng(SEED);
  const pool = seeds();
  const collector = new NetflowCollector(countingStore());
  for (let i = 0; i < CASES; i++) {
    // A few hundred exporters, so that templates pile up and the cache bound matters.
    collector.handleMessage(mutate(rng, pool), `198.51.100.${rng.int(250)}`, 1000 + rng.int(400));
    if (i % 50_000 === 0) await collector.flush();
  }
  const stats = collector.stats();
  assert.ok(stats.every((s) => !('netflow_decoder_error' in s.issues)), JSON.stringify(stats.find((s) => 'netflow_decoder_error' in s.issues)));
  assert.ok((collector as unknown as { cache: { size: number } }).cache.size <= MAX_TEMPLATES);
  await collector.flush();
  const before = collector.stats().find((s) => s.exporter === '203.0.113.1')?.records ?? 0;
  for (const m of new NetflowEncoder(10, 5).encode([sampleRecord(0), sampleRecord(1)])) collector.handleMessage(m, '203.0.113.1', 4739);
  assert.equal((collector.stats().find((s) => s.exporter === '203.0.113.1')?.records ?? 0) - before, 2);
});

test(`role plans (IPv6 kept as bytes) read exactly what the general loop (IPv6 as text) reads, from 200,000 mutated datagrams (FUZZ_SEED=${SEED})`, () => {
  const rng = new Rng(SEED + 2);
  const pool = seeds();
  const sides = [true, false].map((roles) => ({ roles, cache: new TemplateCache(), rates: new Map<string, number>(), issues: new IssueCounter(), out: new CollectedFlows(65_536, roles) }));
  let flows = 0;
  try {
    for (let i = 0; i < 200_000; i++) {
      // Good messages now and then, so that templates stay known and data sets get read.
      const message = rng.next() < 0.3 ? pool[rng.int(pool.length)] : mutate(rng, pool);
      const exporter = `198.51.100.${rng.int(4)}`;
      const results = sides.map((side) => {
        useRolePlans(side.roles);
        return decodeMessage(message, `${exporter}:2055`, exporter, side.cache, side.rates, i, side.issues, side.out);
      });
      assert.deepEqual(results[0], results[1], `message ${i}`);
      if (i % 5000 === 4999 || i === 199_999) {
        const [a, b] = sides.map((side) => side.out.take().toRecords());
        assert.deepEqual(a, b, `records up to message ${i}`);
        flows += a.length;
      }
    }
  } finally {
    useRolePlans(true);
  }
  assert.deepEqual(sides[0].issues.toJSON(), sides[1].issues.toJSON());
  assert.ok(flows > 100_000, `${flows} flows compared`);
});

test(`collector fuzz over UDP: 20,000 mutated datagrams on a real socket, then good ones read (FUZZ_SEED=${SEED})`, async () => {
  const rng = new Rng(SEED + 1);
  const pool = seeds();
  const collector = new NetflowCollector(countingStore());
  const listeners = new MessageListeners((data, address, port) => collector.handleMessage(data, address, port));
  await listeners.listen([{ transport: 'udp', host: '127.0.0.1', port: 0 }]);
  const port = Number(listeners.addresses()[0].split(':').at(-1));
  const sender = dgram.createSocket('udp4');
  try {
    const handled = (): number => collector.stats().reduce((sum, s) => sum + s.messages, 0);
    // Bursts of 100, each waited for: the kernel's receive buffer (net.core.rmem_max) is small.
    for (let i = 0; i < 20_000; i += 100) {
      for (let k = 0; k < 100; k++) sender.send(mutate(rng, pool), port, '127.0.0.1');
      const deadline = Date.now() + 2000;
      while (handled() < i + 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    }
    assert.ok(handled() >= 19_000, `${handled()} of 20,000 datagrams handled`);
    const pendingBefore = collector.pendingCount;
    for (const m of new NetflowEncoder(9, 77).encode([sampleRecord(0), sampleRecord(1), sampleRecord(2)])) sender.send(m, port, '127.0.0.1');
    const deadline = Date.now() + 5000;
    while (collector.pendingCount < pendingBefore + 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(collector.pendingCount - pendingBefore >= 3, 'the good messages after the flood');
  } finally {
    sender.close();
    await listeners.close();
  }
});
