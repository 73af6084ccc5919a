/**
 * Signed query envelopes: every refusal the issue names (unsigned, wrongly signed, expired, replayed,
 * altered, mis-targeted), targeting, and 100,000 damaged messages that are refused, never accepted
 * and never crash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRandom } from '../decode/build-packet.js';
import {
  canonicalJson, generateAuthorityKeys, inNetwork, loadKey, NonceCache, QueryRefused, signQuery, targets, verifySignedQuery,
  MAX_LIFETIME_MS, type HostIdentity,
} from './signed-query.js';

const keys = generateAuthorityKeys();
const authority = loadKey(keys.privateKeyPem, 'private', 'the test key');
const authorityPublic = loadKey(keys.publicKeyPem, 'public', 'the test key');
const host: HostIdentity = { id: 'web-1', site: 'paris', tags: ['web', 'prod'], addresses: ['10.1.2.3', '2001:db8::5'] };
const expected = { audience: 'acme', host };
const NOW = Date.parse('2026-11-22T12:00:00Z');
const fields = { query: 'SELECT count(*) FROM flows', target: 'all', limits: { timeoutMs: 5000, maxRows: 1000 }, issuer: 'ops', audience: 'acme' };

function refusal(message: string | Uint8Array, now = NOW, cache = new NonceCache()): string {
  try {
    verifySignedQuery(message, authorityPublic, expected, cache, now);
    return 'accepted';
  } catch (error) {
    assert.ok(error instanceof QueryRefused, String(error));
    return error.code;
  }
}

test('a signed query is accepted once, by the hosts it targets, while it is valid', () => {
  const signed = JSON.stringify(signQuery(authority, fields, NOW));
  const cache = new NonceCache();
  const envelope = verifySignedQuery(signed, authorityPublic, expected, cache, NOW + 1000);
  assert.equal(envelope.query, fields.query);
  assert.equal(refusal(signed, NOW + 2000, cache), 'replayed');
  assert.equal(refusal(signed, NOW + 61_000 + 31_000), 'expired');
  assert.equal(refusal(signed, NOW - 31_000), 'not_yet_valid');
  for (const [target, ok] of [['host:web-1', true], ['host:web-2', false], ['site:paris', true], ['site:lyon', false], ['tag:prod', true], ['tag:db', false], ['net:10.1.0.0/16', true], ['net:10.2.0.0/16', false], ['net:2001:db8::/32', true], ['nonsense', false]] as const) {
    assert.equal(refusal(JSON.stringify(signQuery(authority, { ...fields, target }, NOW))), ok ? 'accepted' : 'not_targeted', target);
  }
  assert.equal(refusal(JSON.stringify(signQuery(authority, { ...fields, audience: 'other' }, NOW))), 'wrong_audience');
  assert.equal(refusal(JSON.stringify(signQuery(authority, fields, NOW, MAX_LIFETIME_MS + 1000))), 'too_long_lived');
});

test('unsigned, wrongly signed and altered queries are refused', () => {
  const signed = signQuery(authority, fields, NOW);
  assert.equal(refusal(JSON.stringify({ envelope: signed.envelope })), 'malformed');
  const other = loadKey(generateAuthorityKeys().privateKeyPem, 'private', 'another key');
  assert.equal(refusal(JSON.stringify(signQuery(other, fields, NOW))), 'bad_signature');
  const altered = signed.envelope.replace('count(*)', 'count(*), list(src_addr)');
  assert.equal(refusal(JSON.stringify({ ...signed, envelope: altered })), 'bad_signature');
  const retargeted = signed.envelope.replace('"all"', '"host:web-1"');
  assert.equal(refusal(JSON.stringify({ ...signed, envelope: retargeted })), 'bad_signature');
  assert.equal(refusal('x'.repeat(70_000)), 'malformed');
  assert.equal(refusal('not json'), 'malformed');
  assert.throws(() => loadKey(keys.publicKeyPem, 'private', 'authority.pub'), /authority\.pub is not a PEM private key/);
});

test('100,000 damaged messages: refused with a reason, never accepted, never a crash', () => {
  const original = JSON.stringify(signQuery(authority, fields, NOW));
  const random = createRandom(42);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 100_000; i++) {
    const bytes = Buffer.from(original, 'utf8');
    let damaged: Buffer = bytes;
    const r = random();
    if (r < 0.4) {
      for (let k = 1 + Math.floor(random() * 3); k > 0; k--) damaged[Math.floor(random() * damaged.length)] = Math.floor(random() * 256);
    } else if (r < 0.7) {
      damaged = damaged.subarray(0, Math.floor(random() * damaged.length));
    } else {
      // A character of the envelope text itself changed: the JSON stays valid, the signature does not.
      const text = original.replace(/"envelope":"([^"]*?)(\d)/, (_, before: string, digit: string) => `"envelope":"${before}${(Number(digit) + 1 + Math.floor(random() * 8)) % 10}`);
      damaged = Buffer.from(text, 'utf8');
    }
    const outcome = refusal(damaged);
    counts[outcome] = (counts[outcome] ?? 0) + 1;
    if (outcome === 'accepted') {
      // Only a change that leaves the signed envelope and signature as they were (JSON whitespace, base64 padding) can pass.
      const parsed = JSON.parse(damaged.toString('utf8')) as { envelope: string; signature: string };
      assert.equal(parsed.envelope, JSON.parse(original).envelope);
    }
  }
  assert.ok(counts.malformed > 0 && counts.bad_signature > 0, JSON.stringify(counts));
});

test('targets, networks and canonical JSON', () => {
  assert.ok(inNetwork('192.0.2.77', '192.0.2.0/24'));
  assert.ok(!inNetwork('192.0.3.1', '192.0.2.0/24'));
  assert.ok(inNetwork('10.0.0.1', '0.0.0.0/0'));
  assert.ok(inNetwork('2001:db8:1::9', '2001:db8::/32'));
  assert.ok(!inNetwork('2001:db9::1', '2001:db8::/32'));
  assert.ok(!inNetwork('10.0.0.1', '2001:db8::/32'));
  assert.ok(!inNetwork('10.0.0.1', '10.0.0.0/33'));
  assert.ok(inNetwork('10.9.9.9', '10.9.9.9'));
  assert.ok(!targets('host:', host));
  assert.equal(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: 'x' } }), '{"a":{"c":"x","d":[2,{"e":0,"f":1}]},"b":1}');
  const cache = new NonceCache(2);
  assert.ok(cache.add('a', NOW + 10, NOW));
  assert.ok(cache.add('b', NOW + 10, NOW));
  assert.ok(!cache.add('c', NOW + 10, NOW), 'full of live nonces: refuses rather than forgets');
  assert.ok(cache.add('c', NOW + 10, NOW + 11), 'expired nonces make room');
});
