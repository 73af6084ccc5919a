/**
 * The adjacency's packets and its state machine on what the wire may bring: every packet it builds
 * decodes to the fields it was built from; and 100,000 packets (well-formed ones from a few routers,
 * with random fields and orders, then damaged: bytes flipped, cut, lengths that lie, noise) never
 * make it throw, and everything it sends in reply decodes. The agreement with real routers is
 * test/topo/ospf-frr.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRandom } from '../../decode/build-packet.js';
import { decodeLsaHeader } from './lsa.js';
import { networkLsa, routerLsa, summaryLsa } from './lsa-encode.js';
import { OspfAdjacency } from './ospf-adjacency.js';
import { decodeOspfPacket, setPacketChecksum } from './ospf-packet.js';
import {
  databaseDescriptionPacket, helloPacket, linkStateAckPacket, linkStateRequestPacket, linkStateUpdatePacket, withAge,
} from './ospf-packet-encode.js';

const AREA = '0.0.0.0';

test('the packets it builds decode to their fields', () => {
  const origin = { routerId: '10.0.0.100', areaId: '0.0.0.1' };
  const hello = { networkMask: '255.255.255.0', helloInterval: 10, options: 2, priority: 0, deadInterval: 40, designatedRouter: '10.0.0.3', backupDesignatedRouter: '10.0.0.2', neighbors: ['0.0.0.1', '0.0.0.3'] };
  const decodedHello = decodeOspfPacket(helloPacket(origin, hello));
  assert.ok(typeof decodedHello !== 'string', String(decodedHello));
  assert.deepEqual(decodedHello.header, { type: 1, length: 52, routerId: '10.0.0.100', areaId: '0.0.0.1', authType: 0 });
  assert.deepEqual(decodedHello.body, { kind: 'hello', ...hello });

  const lsa = routerLsa('0.0.0.1', [{ type: 2, linkId: '10.0.0.3', linkData: '10.0.0.1', metric: 10 }], {}, 0x80000005);
  const dd = decodeOspfPacket(databaseDescriptionPacket(origin, { mtu: 1500, options: 2, init: false, more: true, master: true, sequence: 0xfffffffe, headers: [lsa.bytes] }));
  assert.ok(typeof dd !== 'string' && dd.body.kind === 'database-description', String(dd));
  assert.deepEqual({ ...dd.body, headers: dd.body.headers.map((h) => h.checksum) }, { kind: 'database-description', mtu: 1500, options: 2, init: false, more: true, master: true, sequence: 0xfffffffe, headers: [lsa.header.checksum] });

  const request = decodeOspfPacket(linkStateRequestPacket(origin, [lsa.header]));
  assert.ok(typeof request !== 'string');
  assert.deepEqual(request.body, { kind: 'link-state-request', requests: [{ type: 1, linkStateId: '0.0.0.1', advertisingRouter: '0.0.0.1' }] });

  const aged = withAge(lsa.bytes, 3600);
  const updateBody = decodeOspfPacket(linkStateUpdatePacket(origin, [lsa.bytes, aged]));
  assert.ok(typeof updateBody !== 'string' && updateBody.body.kind === 'link-state-update');
  assert.deepEqual(updateBody.body.lsas.map((l) => [l.header.age, l.header.sequence >>> 0]), [[0, 0x80000005], [3600, 0x80000005]], 'the age changes, the checksum still holds');
  assert.equal(lsa.bytes[1], 0, 'withAge copies');

  const ack = decodeOspfPacket(linkStateAckPacket(origin, [lsa.bytes]));
  assert.ok(typeof ack !== 'string' && ack.body.kind === 'link-state-ack');
  assert.deepEqual(ack.body.headers, [lsa.header]);
});

test('100,000 packets from routers and the wire never make the adjacency throw, and all it sends decodes', () => {
  const random = createRandom(6987);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const routers = ['0.0.0.1', '0.0.0.2', '0.0.0.3', '10.0.0.100', '255.255.255.255', '0.0.0.0'];
  const addresses = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.100', '0.0.0.0', '10.0.1.1'];
  const sequences = [0x80000001, 0x80000002, 0x7fffffff, 0x80000000, 0];
  const lsaPool = [
    routerLsa('0.0.0.1', [{ type: 2, linkId: '10.0.0.3', linkData: '10.0.0.1', metric: 10 }], {}, pick(sequences)),
    routerLsa('10.0.0.100', [{ type: 2, linkId: '10.0.0.3', linkData: '10.0.0.100', metric: 0xffff }], {}, pick(sequences)),
    routerLsa('10.0.0.100', [], {}, 0x7ffffff0),
    networkLsa('10.0.0.3', '0.0.0.3', '255.255.255.0', ['0.0.0.1', '0.0.0.3', '10.0.0.100']),
    summaryLsa('10.5.0.0', '0.0.0.2', '255.255.255.0', 30),
  ];
  const lsaBytes = (): Uint8Array => withAge(pick(lsaPool).bytes, pick([0, 1, 1799, 3599, 3600, 3601, 65535]));
  let sent = 0;
  const adjacency = new OspfAdjacency({
    routerId: null, addresses: [{ address: '10.0.0.100', netmask: '255.255.255.0' }], mtu: pick([576, 1500, 9000]),
    send: (_destination, packet) => {
      sent++;
      const decoded = decodeOspfPacket(packet);
      assert.ok(typeof decoded !== 'string', `a packet it sent decodes: ${decoded}`);
    },
  });
  const wellFormed = (): Uint8Array => {
    const origin = { routerId: pick(routers), areaId: random() < 0.9 ? AREA : '0.0.0.1' };
    switch (Math.floor(random() * 5)) {
      case 0:
        return helloPacket(origin, {
          networkMask: random() < 0.9 ? '255.255.255.0' : '255.255.0.0', helloInterval: random() < 0.9 ? 1 : pick([0, 10]), options: pick([2, 0, 0x42, 8]), priority: pick([0, 1, 255]),
          deadInterval: 4, designatedRouter: pick(addresses), backupDesignatedRouter: pick(addresses), neighbors: routers.filter(() => random() < 0.5),
        });
      case 1:
        return databaseDescriptionPacket(origin, {
          mtu: pick([1500, 9000, 0]), options: 2, init: random() < 0.3, more: random() < 0.5, master: random() < 0.5,
          sequence: Math.floor(random() * 4) + ((Date.now() / 1000) >>> 0) - 1, headers: Array.from({ length: Math.floor(random() * 4) }, lsaBytes),
        });
      case 2:
        return linkStateRequestPacket(origin, Array.from({ length: Math.floor(random() * 4) }, () => pick(lsaPool).header));
      case 3:
        return linkStateUpdatePacket(origin, Array.from({ length: Math.floor(random() * 4) }, lsaBytes));
      default:
        return linkStateAckPacket(origin, Array.from({ length: Math.floor(random() * 3) }, lsaBytes));
    }
  };
  const damaged = (packet: Uint8Array): Uint8Array => {
    const out = packet.slice(0, random() < 0.2 ? Math.floor(random() * packet.length) : packet.length);
    for (let i = Math.floor(random() * 4); i > 0 && out.length > 0; i--) out[Math.floor(random() * out.length)] = Math.floor(random() * 256);
    if (random() < 0.5 && out.length >= 24) setPacketChecksum(out, 0, Math.min(out.length, (out[2] << 8) | out[3]) & ~1 || out.length);
    return out;
  };
  let now = 1_000_000;
  for (let i = 0; i < 100_000; i++) {
    const kind = random();
    const packet = kind < 0.6 ? wellFormed() : kind < 0.95 ? damaged(wellFormed()) : Uint8Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256));
    adjacency.receive(pick(addresses), packet, now);
    now += Math.floor(random() * (random() < 0.01 ? 60_000 : 400));
    if (random() < 0.3) adjacency.tick(now);
  }
  adjacency.leave(now);
  assert.ok(sent > 1000, `it answered: ${sent} packets sent`);
  for (const { lsa } of adjacency.lsdb.entries(now)) assert.ok(typeof decodeLsaHeader(lsa.bytes, 0, lsa.bytes.length) !== 'string');
});

test('a flood of forged routers neither outgrows the Hello nor the MTU', () => {
  const sent: Uint8Array[] = [];
  const adjacency = new OspfAdjacency({ routerId: null, addresses: [{ address: '10.0.0.100', netmask: '255.255.255.0' }], mtu: 1500, send: (_to, packet) => sent.push(packet) });
  for (let i = 1; i <= 5000; i++) {
    const id = `172.16.${i >> 8}.${i & 255}`;
    adjacency.receive(`10.0.0.${1 + (i % 250)}`, helloPacket({ routerId: id, areaId: AREA }, {
      networkMask: '255.255.255.0', helloInterval: 10, options: 2, priority: 1, deadInterval: 40, designatedRouter: '10.0.0.1', backupDesignatedRouter: '0.0.0.0', neighbors: [],
    }), 1_000_000 + i);
    adjacency.tick(1_000_000 + i * 10);
  }
  assert.ok(adjacency.neighborStates().length <= (1500 - 20 - 24 - 20) / 4, `${adjacency.neighborStates().length} neighbours`);
  assert.ok(adjacency.issues.get('ospf_too_many_neighbors') > 0);
  assert.ok(sent.length > 0 && sent.every((p) => p.length + 20 <= 1500), 'every packet fits the MTU');
});
