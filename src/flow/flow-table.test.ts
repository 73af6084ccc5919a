import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowKey, FlowTable, type TableEndReason } from './flow-table.js';

const S = 1_000_000;

function setup(options: Partial<{ idle: number; active: number; maxFlows: number; initial: number }> = {}) {
  const ended: { src: number; reason: TableEndReason; packets: number; bytes: number; first: number; last: number }[] = [];
  const table = new FlowTable(
    {
      idleTimeoutUs: options.idle ?? 90 * S,
      activeTimeoutUs: options.active ?? 1800 * S,
      maxFlows: options.maxFlows ?? 1000,
      initialCapacity: options.initial ?? 16,
    },
    (t, slot, reason) =>
      ended.push({ src: t.keyOf(slot)[0], reason, packets: t.packetsOf(slot), bytes: t.bytesOf(slot), first: t.firstUsOf(slot), last: t.lastUsOf(slot) }),
  );
  const key = new FlowKey();
  const packet = (src: number, ts: number, bytes = 100, flags = 0): number => {
    key.set(Uint32Array.of(src, 0, 0, 0), Uint32Array.of(0x0a000001, 0, 0, 0), 1234, 80, 6, 4, 0);
    return table.account(key, ts, bytes, flags);
  };
  return { table, ended, packet };
}

test('FlowTable counts packets and bytes of one flow', () => {
  const { table, ended, packet } = setup();
  packet(1, 0, 60);
  packet(1, 1 * S, 1500);
  assert.equal(table.size, 1);
  table.endAll('end');
  assert.deepEqual(ended, [{ src: 1, reason: 'end', packets: 2, bytes: 1560, first: 0, last: 1 * S }]);
});

test('FlowTable idle timeout: a gap longer than the timeout starts a new record', () => {
  const { table, ended, packet } = setup({ idle: 90 * S });
  packet(1, 0);
  packet(1, 90 * S); // a gap of exactly the timeout is not longer than it
  packet(1, 180 * S + 1);
  assert.deepEqual(ended.map((e) => [e.reason, e.packets]), [['idle', 2]]);
  table.endAll('end');
  assert.deepEqual(ended.map((e) => [e.reason, e.packets]), [['idle', 2], ['end', 1]]);
});

test('FlowTable.sweep ends only flows idle for longer than the timeout', () => {
  const { table, ended, packet } = setup({ idle: 10 * S });
  packet(1, 0);
  packet(2, 5 * S);
  table.sweep(10 * S);
  assert.equal(ended.length, 0);
  table.sweep(10 * S + 1);
  assert.deepEqual(ended.map((e) => e.src), [1]);
  table.sweep(16 * S);
  assert.deepEqual(ended.map((e) => e.src), [1, 2]);
  assert.equal(table.size, 0);
});

test('FlowTable active timeout splits a long flow', () => {
  const { table, ended, packet } = setup({ idle: 90 * S, active: 100 * S });
  for (let t = 0; t <= 250; t += 10) packet(1, t * S);
  table.endAll('end');
  assert.deepEqual(ended.map((e) => [e.reason, e.first / S, e.last / S]), [
    ['active', 0, 90],
    ['active', 100, 190],
    ['end', 200, 250],
  ]);
});

test('FlowTable.sweep ends flows at the active timeout even without further packets of theirs', () => {
  const { table, ended, packet } = setup({ idle: 1000 * S, active: 100 * S });
  packet(1, 0);
  packet(2, 50 * S);
  table.sweep(99 * S);
  assert.equal(ended.length, 0);
  table.sweep(100 * S);
  assert.deepEqual(ended.map((e) => [e.src, e.reason]), [[1, 'active']]);
});

test('FlowTable cap: at maxFlows the oldest flow ends early and is counted', () => {
  const { table, ended, packet } = setup({ maxFlows: 3 });
  packet(1, 1);
  packet(2, 2);
  packet(3, 3);
  packet(1, 4); // still the oldest flow, though recently seen
  packet(4, 5);
  assert.deepEqual(ended.map((e) => [e.src, e.reason]), [[1, 'evicted']]);
  assert.equal(table.evictions, 1);
  assert.equal(table.size, 3);
});

test('FlowTable grows past its initial capacity and keeps every flow findable', () => {
  const { table, ended, packet } = setup({ initial: 16, maxFlows: 100_000 });
  for (let i = 0; i < 5000; i++) packet(i + 1, i);
  for (let i = 0; i < 5000; i++) packet(i + 1, 10_000 + i);
  assert.equal(table.size, 5000);
  table.endAll('end');
  assert.equal(ended.length, 5000);
  assert.ok(ended.every((e) => e.packets === 2));
});

test('FlowTable survives heavy churn (removal keeps probe chains intact)', () => {
  const { table, packet } = setup({ idle: 10, maxFlows: 64, initial: 16 });
  // Pseudo-random sources with many collisions in a small index; each flow idles out quickly.
  let x = 12345;
  const live = new Map<number, number>();
  for (let t = 0; t < 200_000; t++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const src = (x >>> 16) % 200;
    const slot = packet(src + 1, t);
    live.set(src + 1, slot);
    assert.equal(table.keyOf(slot)[0], src + 1);
  }
  assert.ok(table.size <= 64);
});

test('FlowTable cap: flows that already timed out are expired before anything is evicted', () => {
  const { table, ended, packet } = setup({ maxFlows: 2, idle: 10 * S });
  packet(1, 0);
  packet(2, 1 * S);
  packet(3, 30 * S); // both earlier flows are idle by now: no early export needed
  assert.deepEqual(ended.map((e) => [e.src, e.reason]), [[1, 'idle'], [2, 'idle']]);
  assert.equal(table.evictions, 0);
});

test('FlowTable records do not depend on when sweeps run', () => {
  const run = (sweepIntervalUs: number) => {
    const ended: string[] = [];
    const table = new FlowTable({ idleTimeoutUs: 5 * S, activeTimeoutUs: 40 * S, maxFlows: 10_000, sweepIntervalUs }, (t, slot) =>
      ended.push(`${t.keyOf(slot)[0]}:${t.firstUsOf(slot)}-${t.lastUsOf(slot)}/${t.packetsOf(slot)}`),
    );
    const key = new FlowKey();
    let x = 7;
    for (let i = 0; i < 50_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      key.set(Uint32Array.of((x >>> 8) % 500, 0, 0, 0), Uint32Array.of(1, 0, 0, 0), 1, 2, 17, 4, 0);
      table.account(key, i * 2000, 100, 0);
    }
    table.endAll('end');
    return ended.sort();
  };
  assert.deepEqual(run(1), run(60 * S));
});

test('FlowTable: a flow that went idle before its active timeout ends as idle, however late it is looked at', () => {
  const { table, ended, packet } = setup({ idle: 90 * S, active: 1800 * S });
  packet(1, 0);
  packet(2, 3600 * S); // the sweep or this packet finds flow 1 long after both timeouts passed
  packet(1, 3600 * S + 1);
  table.endAll('end');
  assert.deepEqual(ended.map((e) => [e.src, e.reason]), [[1, 'idle'], [2, 'end'], [1, 'end']]);
});
