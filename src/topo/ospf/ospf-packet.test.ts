/**
 * OSPF decoding on crafted packets: a Link State Update with every LSA type decodes to what was
 * built; both checksums are checked; the damage the issue names (LSA lengths shorter than the
 * header, longer than the packet, not a multiple of 4, unknown types, the reserved sequence number,
 * ages past MaxAge) is counted and skipped; and 100,000 damaged packets never throw.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRandom } from '../../decode/build-packet.js';
import { decodeLsa, lsaChecksumValid, LsaType, setLsaChecksum } from './lsa.js';
import { LinkStateDatabase } from './lsdb.js';
import { OspfIssue } from './ospf-issue.js';
import { decodeOspfPacket, setPacketChecksum } from './ospf-packet.js';

const ip = (text: string): number[] => text.split('.').map(Number);
const u16 = (n: number): number[] => [(n >> 8) & 255, n & 255];
const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

/** An LSA with a right length and checksum. */
function lsa(type: number, id: string, router: string, sequence: number, body: number[], age = 1): Uint8Array {
  const bytes = new Uint8Array([...u16(age), 0x22, type, ...ip(id), ...ip(router), ...u32(sequence), 0, 0, ...u16(20 + body.length), ...body]);
  setLsaChecksum(bytes);
  return bytes;
}

const ROUTER = lsa(LsaType.ROUTER, '1.1.1.1', '1.1.1.1', 0x80000003, [
  0x03, 0, ...u16(3),
  ...ip('2.2.2.2'), ...ip('10.0.12.1'), 1, 0, ...u16(10),
  ...ip('10.0.0.2'), ...ip('10.0.0.1'), 2, 0, ...u16(5),
  ...ip('10.0.12.0'), ...ip('255.255.255.252'), 3, 1, ...u16(10), 0, 0, 0, 7, // with one TOS entry, skipped
]);
const NETWORK = lsa(LsaType.NETWORK, '10.0.0.2', '2.2.2.2', 0x80000001, [...ip('255.255.255.0'), ...ip('1.1.1.1'), ...ip('2.2.2.2')]);
const SUMMARY = lsa(LsaType.SUMMARY_NETWORK, '10.5.0.0', '4.4.4.4', 0x80000002, [...ip('255.255.255.0'), 0, 0, 0, 30]);
const EXTERNAL = lsa(LsaType.AS_EXTERNAL, '198.51.100.0', '6.6.6.6', 0x80000001, [...ip('255.255.255.0'), 0x80, 0, 0, 20, ...ip('0.0.0.0'), ...u32(7)]);

/** A Link State Update carrying `lsas`, with its checksum. */
function update(lsas: Uint8Array[], count = lsas.length): Uint8Array {
  const body = [...u32(count), ...lsas.flatMap((l) => [...l])];
  const bytes = new Uint8Array([2, 4, ...u16(24 + body.length), ...ip('1.1.1.1'), ...ip('0.0.0.0'), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...body]);
  setPacketChecksum(bytes, 0, bytes.length);
  return bytes;
}

test('a Link State Update with LSAs of types 1, 2, 3 and 5 decodes to what was built', () => {
  const packet = decodeOspfPacket(update([ROUTER, NETWORK, SUMMARY, EXTERNAL]));
  assert.ok(typeof packet !== 'string', String(packet));
  assert.equal(packet.header.routerId, '1.1.1.1');
  assert.ok(packet.body.kind === 'link-state-update');
  assert.deepEqual(packet.body.skipped, []);
  const [router, network, summary, external] = packet.body.lsas;
  assert.deepEqual(router.body, {
    kind: 'router', virtualEndpoint: false, external: true, border: true,
    links: [
      { linkId: '2.2.2.2', linkData: '10.0.12.1', type: 1, metric: 10 },
      { linkId: '10.0.0.2', linkData: '10.0.0.1', type: 2, metric: 5 },
      { linkId: '10.0.12.0', linkData: '255.255.255.252', type: 3, metric: 10 },
    ],
  });
  assert.equal(router.header.sequence, -0x7ffffffd);
  assert.deepEqual(network.body, { kind: 'network', mask: '255.255.255.0', attachedRouters: ['1.1.1.1', '2.2.2.2'] });
  assert.deepEqual(summary.body, { kind: 'summary', mask: '255.255.255.0', metric: 30 });
  assert.deepEqual(external.body, { kind: 'external', mask: '255.255.255.0', externalType: 2, metric: 20, forwardingAddress: '0.0.0.0', routeTag: 7 });
});

test('checksums: a flipped bit in an LSA or the packet is caught', () => {
  assert.ok(lsaChecksumValid(ROUTER));
  const damaged = ROUTER.slice();
  damaged[30] ^= 1;
  assert.equal(decodeLsa(damaged, 0, damaged.length), OspfIssue.BAD_LSA_CHECKSUM);
  const aged = ROUTER.slice();
  aged[1] = 99; // the age is outside the LSA checksum (RFC 2328 §12.1.7)
  assert.ok(lsaChecksumValid(aged));
  const packet = update([ROUTER]);
  packet[30] ^= 0x10;
  assert.equal(decodeOspfPacket(packet), OspfIssue.BAD_OSPF_CHECKSUM);
});

test('damaged LSAs are counted and skipped; the packet and the other LSAs are kept', () => {
  const short = ROUTER.slice();
  short[18] = 0;
  short[19] = 12; // shorter than the header
  const odd = lsa(LsaType.SUMMARY_NETWORK, '10.6.0.0', '4.4.4.4', 0x80000001, [...ip('255.255.255.0'), 0, 0, 0, 30, 0, 0]); // 30 bytes
  const reserved = lsa(LsaType.SUMMARY_NETWORK, '10.7.0.0', '4.4.4.4', 0x80000000, [...ip('255.255.255.0'), 0, 0, 0, 30]);
  const tooOld = lsa(LsaType.SUMMARY_NETWORK, '10.8.0.0', '4.4.4.4', 0x80000001, [...ip('255.255.255.0'), 0, 0, 0, 30], 3601);
  const unknown = lsa(11, '10.9.0.0', '4.4.4.4', 0x80000001, [1, 2, 3, 4]);
  const result = decodeOspfPacket(update([SUMMARY, reserved, tooOld, unknown, odd]));
  assert.ok(typeof result !== 'string' && result.body.kind === 'link-state-update');
  assert.deepEqual(result.body.skipped, [OspfIssue.BAD_LSA_SEQUENCE, OspfIssue.BAD_LSA_AGE, OspfIssue.BAD_LSA_LENGTH]);
  assert.deepEqual(result.body.lsas.map((l) => l.header.linkStateId), ['10.5.0.0', '10.9.0.0']);
  assert.equal(result.body.lsas[1].body.kind, 'unknown');
  const cut = decodeOspfPacket(update([short, SUMMARY]));
  assert.ok(typeof cut !== 'string' && cut.body.kind === 'link-state-update');
  assert.deepEqual(cut.body.skipped, [OspfIssue.BAD_LSA_LENGTH], 'a length that cannot be walked over ends the update');
  const long = ROUTER.slice();
  long[18] = 1; // 256 + … bytes: beyond the packet
  const beyond = decodeOspfPacket(update([long]));
  assert.ok(typeof beyond !== 'string' && beyond.body.kind === 'link-state-update');
  assert.deepEqual(beyond.body.skipped, [OspfIssue.LSA_LENGTH_EXCEEDS_PACKET]);
  assert.equal(decodeOspfPacket(new Uint8Array([3, 1, 0, 24])), OspfIssue.TRUNCATED_OSPF_HEADER);
});

test('the database keeps the newest instance (RFC 2328 §13.1) and a MaxAge instance flushes it', () => {
  const db = new LinkStateDatabase();
  const decode = (bytes: Uint8Array) => {
    const l = decodeLsa(bytes, 0, bytes.length);
    assert.ok(typeof l !== 'string');
    return l;
  };
  const body = [...ip('255.255.255.0'), 0, 0, 0, 30];
  assert.equal(db.install('0.0.0.0', decode(lsa(3, '10.5.0.0', '4.4.4.4', 0x80000002, body)), 0), 'installed');
  assert.equal(db.install('0.0.0.0', decode(lsa(3, '10.5.0.0', '4.4.4.4', 0x80000001, body)), 1000), 'older');
  assert.equal(db.install('0.0.0.0', decode(lsa(3, '10.5.0.0', '4.4.4.4', 0x80000002, body, 5)), 2000), 'same');
  assert.equal(db.install('0.0.0.0', decode(lsa(3, '10.5.0.0', '4.4.4.4', 0x80000003, body)), 3000), 'installed');
  assert.equal(db.lsas('0.0.0.0', 3000)[0].header.sequence, -0x7ffffffd);
  assert.equal(db.install('0.0.0.0', decode(lsa(3, '10.5.0.0', '4.4.4.4', 0x80000003, body, 3600)), 4000), 'flushed');
  assert.deepEqual(db.lsas('0.0.0.0', 4000), []);
  // An LSA never refreshed for an hour is gone.
  db.install('0.0.0.0', decode(lsa(3, '10.6.0.0', '4.4.4.4', 0x80000001, body, 10)), 0);
  assert.equal(db.lsas('0.0.0.0', 3_589_000).length, 1);
  assert.equal(db.lsas('0.0.0.0', 3_591_000).length, 0);
});

test('100,000 damaged packets: counted as issues or decoded, never a throw', () => {
  const random = createRandom(89);
  const good = update([ROUTER, NETWORK, SUMMARY, EXTERNAL]);
  let decoded = 0;
  for (let i = 0; i < 100_000; i++) {
    let bytes: Uint8Array;
    const kind = i % 4;
    if (kind === 0) {
      bytes = new Uint8Array(Math.floor(random() * 200));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      bytes[0] = 2;
    } else if (kind === 1) {
      bytes = good.slice(0, Math.floor(random() * good.length));
    } else {
      bytes = good.slice();
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      // Half of them with a right packet checksum, so that the LSAs inside get decoded.
      if (kind === 3) setPacketChecksum(bytes, 0, Math.min(bytes.length, (bytes[2] << 8) | bytes[3]));
    }
    const result = decodeOspfPacket(bytes);
    if (typeof result !== 'string') {
      decoded++;
      if (result.body.kind === 'link-state-update') for (const l of result.body.lsas) assert.ok(l.bytes.length >= 20 && l.bytes.length % 4 === 0);
    }
  }
  assert.ok(decoded > 1000, `${decoded} decoded`);
});
