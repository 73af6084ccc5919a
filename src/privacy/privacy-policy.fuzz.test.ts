/**
 * Fuzz tests of the privacy policy's parsers: policy documents (people's YAML) and signed policies
 * (bytes from a file or the wire). 100,000 cases each from a seeded PRNG (FUZZ_SEED=<n> repeats a
 * run, FUZZ_CASES=<n> changes the count). Documents are built from the schema's own keys and values
 * mixed with wrong types, random text and random YAML; signed policies are a real one mutated (bytes
 * flipped, cut, fields swapped). Whatever the input: a document that passes gives a filter that
 * applies to records without throwing, anything else is a PolicyError (or, for YAML, a RangeError)
 * whose problems are single lines; nothing else escapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { Rng } from '../bench/prng.js';
import { fuzzSeed, randomText } from '../common/fuzz-text.js';
import { parseYamlText } from '../common/yaml-value.js';
import { testBatch } from '../store/test-records.js';
import { parsePolicyDocument, PolicyError } from './privacy-policy.js';
import { RecordFilter } from './record-filter.js';
import { signPolicy, verifySignedPolicy } from './signed-policy.js';

const SEED = fuzzSeed('privacy policy');
const CASES = Number(process.env.FUZZ_CASES ?? 100_000);

const RULE_KEYS = ['addr', 'src_addr', 'dst_addr', 'port', 'src_port', 'dst_port', 'proto', 'app', 'process', 'user', 'uid', 'container', 'interface', 'bogus'];
const FIELDS = ['username', 'process', 'command', 'container', 'interface', 'tunnel', 'src_addr', 'dst_addr', 'local_addr', 'remote_addr', 'pid', 'uid', 'host', ''];
const STRINGS = [
  '10.0.0.0/8', '10.1.2.3', 'fd00::/8', '::/0', '0.0.0.0/0', '10.0.0.0/33', '1.2.3', '::ffff:1.2.3.4/120', '443', '6000-6010', '10-5', '70000', '-1',
  'tcp', 'udp', 'icmp', 'icmpv6', 'tcpp', '256', 'tcp/443', 'udp/53', 'ip50', 'tcp/', 'ssh*', '*', '?', '[', '\\', 'tag:trusted', 'host:a', 'all', 'net:10.0.0.0/8', 'site:',
];

const BATCH = testBatch(300, 1_700_000_000_000_000, 1_000_000, 3);

function value(rng: Rng, depth: number): unknown {
  const r = rng.next();
  if (r < 0.3) return STRINGS[rng.int(STRINGS.length)];
  if (r < 0.45) return [0, 1, 3, 24, 32, 48, 128, 129, -1, 1.5, 1e9, NaN][rng.int(12)];
  if (r < 0.55) return FIELDS[rng.int(FIELDS.length)];
  if (r < 0.62) return randomText(rng, 12);
  if (r < 0.67) return [null, true, false, undefined][rng.int(4)];
  if (depth > 3) return {};
  if (r < 0.85) return Array.from({ length: rng.int(4) }, () => value(rng, depth + 1));
  const object: Record<string, unknown> = {};
  for (let i = rng.int(4); i > 0; i--) object[[...RULE_KEYS, 'ipv4', 'ipv6'][rng.int(RULE_KEYS.length + 2)]] = value(rng, depth + 1);
  return object;
}

function hostPolicy(rng: Rng): unknown {
  const policy: Record<string, unknown> = {};
  if (rng.chance(0.7)) {
    policy.drop = Array.from({ length: rng.int(4) }, () => {
      const rule: Record<string, unknown> = {};
      for (let i = 1 + rng.int(3); i > 0; i--) rule[RULE_KEYS[rng.int(RULE_KEYS.length)]] = value(rng, 2);
      return rng.chance(0.05) ? value(rng, 2) : rule;
    });
  }
  if (rng.chance(0.5)) policy.remove = Array.from({ length: rng.int(4) }, () => (rng.chance(0.9) ? FIELDS[rng.int(FIELDS.length)] : value(rng, 2)));
  if (rng.chance(0.5)) policy.pseudonymise = Array.from({ length: rng.int(4) }, () => (rng.chance(0.9) ? FIELDS[rng.int(FIELDS.length)] : value(rng, 2)));
  if (rng.chance(0.5)) {
    const truncate: Record<string, unknown> = {};
    for (let i = rng.int(3); i > 0; i--) truncate[FIELDS[rng.int(FIELDS.length)]] = rng.chance(0.8) ? { ipv4: value(rng, 3), ipv6: value(rng, 3) } : value(rng, 3);
    policy.truncate = truncate;
  }
  if (rng.chance(0.3)) policy.min_group_size = value(rng, 3);
  if (rng.chance(0.05)) policy[randomText(rng, 6)] = value(rng, 2);
  return policy;
}

function documentCase(rng: Rng): unknown {
  if (rng.chance(0.05)) return value(rng, 0);
  const doc: Record<string, unknown> = { version: rng.chance(0.8) ? 1 + rng.int(5) : value(rng, 2) };
  if (rng.chance(0.9)) doc.default = hostPolicy(rng);
  if (rng.chance(0.3)) doc.hosts = Array.from({ length: rng.int(3) }, () => ({ target: STRINGS[rng.int(STRINGS.length)], policy: hostPolicy(rng) }));
  return doc;
}

function checkError(error: unknown, what: string): void {
  if (error instanceof PolicyError) {
    assert.ok(error.problems.length > 0, what);
    for (const problem of error.problems) assert.ok(problem.length > 0 && !problem.includes('\n'), `${what}: ${JSON.stringify(problem)}`);
    return;
  }
  throw error;
}

test(`policy documents: ${CASES} cases, a working filter or a PolicyError`, () => {
  const rng = new Rng(SEED);
  let accepted = 0;
  for (let i = 0; i < CASES; i++) {
    const input = documentCase(rng);
    try {
      const document = parsePolicyDocument(input, 'fuzz');
      accepted++;
      // Only a few accepted cases are applied to records: the filter's own tests cover its results.
      if (accepted % 50 === 1) for (const p of [document.default, ...document.hosts.map((h) => h.policy)]) new RecordFilter(p, rng.chance(0.5) ? Buffer.alloc(32, 1) : null).apply(BATCH);
    } catch (error) {
      checkError(error, `case ${i}: ${JSON.stringify(input)}`);
    }
  }
  assert.ok(accepted > CASES / 100, `some documents were valid (${accepted})`);
});

test(`policy YAML text: ${CASES / 10} random texts, a document or one clear error`, () => {
  const rng = new Rng(SEED ^ 0x5a5a);
  for (let i = 0; i < CASES / 10; i++) {
    const text = rng.chance(0.5) ? randomText(rng, 80) : `version: ${rng.int(3)}\ndefault:\n  ${randomText(rng, 40)}\n`;
    try {
      parsePolicyDocument(parseYamlText(text, 'fuzz.yaml'), 'fuzz.yaml');
    } catch (error) {
      if (error instanceof RangeError) assert.match(error.message, /^fuzz\.yaml: /);
      else checkError(error, JSON.stringify(text));
    }
  }
});

test(`signed policies: ${CASES} mutations, accepted unchanged or refused with a reason`, () => {
  const rng = new Rng(SEED ^ 0xa5a5);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signed = signPolicy(privateKey, { version: 2, default: { drop: [{ addr: '10.0.0.0/8' }], truncate: { remote_addr: { ipv4: 24, ipv6: 48 } } } }, { audience: 'fuzz', issuer: 'f' });
  const original = Buffer.from(JSON.stringify(signed));
  assert.equal(verifySignedPolicy(original, publicKey, 'fuzz').document.version, 2);
  let refused = 0;
  for (let i = 0; i < CASES; i++) {
    const bytes = Buffer.from(original);
    let message: Buffer = bytes;
    const r = rng.next();
    if (r < 0.4) for (let k = 1 + rng.int(4); k > 0; k--) bytes[rng.int(bytes.length)] = rng.int(256);
    else if (r < 0.6) message = bytes.subarray(0, rng.int(bytes.length));
    else if (r < 0.8) message = Buffer.from(JSON.stringify({ policy: rng.chance(0.5) ? signed.policy : randomText(rng, 60), signature: rng.chance(0.5) ? signed.signature : randomText(rng, 88) }));
    else message = Buffer.from(JSON.stringify(value(rng, 0)) ?? 'null');
    try {
      const accepted = verifySignedPolicy(message, publicKey, 'fuzz');
      // Accepted only if the signed text is the original one (a flip in the JSON around it, such as in whitespace, is harmless).
      assert.equal(accepted.signed.policy, signed.policy);
    } catch (error) {
      checkError(error, `mutation ${i}`);
      refused++;
    }
  }
  assert.ok(refused > CASES / 2);
});
