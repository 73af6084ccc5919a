/**
 * Fuzz test of compileFlowFilter, the parser of `endsight flows FILTER`: 60,000 inputs from a seeded
 * PRNG (FUZZ_SEED=<n> repeats a run, FUZZ_CASES=<n> changes the count): filters from the grammar with
 * random values (valid and not), token soup from a vocabulary of keywords, operators, parentheses,
 * numbers, addresses, quotes, SQL and unicode, and fully random strings.
 *
 * Whatever the input, compileFlowFilter returns a string or throws a FilterError whose message is one
 * line naming the filter; nothing else. And since a filter is compiled once so that matching cannot
 * fail at scan time, accepted filters must run in DuckDB, both against an empty store and against a
 * store with records (an error raised per row only shows when there are rows): 2,000 of them without
 * address terms, a few dozen with address terms, and every distinct shape of address and prefix
 * literal the accepted filters hold.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Rng } from '../bench/prng.js';
import { fuzzSeed, randomText, longDigits } from '../common/fuzz-text.js';
import { FlowStore } from '../store/index.js';
import { testBatch } from '../store/test-records.js';
import { compileFlowFilter } from './flow-filter.js';
import { QueryEngine } from './query-engine.js';

const SEED = fuzzSeed('flow-filter');
const CASES = Number(process.env.FUZZ_CASES ?? 60_000);
const SQL_SAMPLE = 2_000;
/** Whole filters with address terms run in DuckDB, and distinct shapes of address literals checked. */
const ADDRESS_FILTER_SAMPLE = 6;
const ADDRESS_LITERAL_SAMPLE = 20;
const ADDRESS_SQL = /\b(?:ip_hex|in_cidr)\(/;

const KEYWORDS = [
  'proto', 'tcp', 'udp', 'icmp', 'icmp6', 'esp', 'gre', 'sctp', 'ah', 'src', 'dst', 'host', 'ip', 'net', 'port', 'packets', 'bytes',
  'duration', 'flags', 'process', 'user', 'container', 'iface', 'source', 'host-id', 'end-reason', 'direction', 'pid', 'uid',
  'and', 'or', 'not', 'AND', 'Or', 'NOT', 'TCP', 'Proto',
];
const OPERATORS = ['&&', '||', '!', '(', ')', '=', '==', '!=', '>', '<', '>=', '<=', '=>', '<>', '!!', '((', '))', '==='];
const NUMBERS = [
  '0', '1', '6', '17', '53', '443', '255', '256', '65535', '65536', '-1', '1.5', '1k', '2M', '3G', '1.5m', '10K', '1T', '0x10', '1e3', '1_000',
  '007', '.5', '5.', 'NaN', 'Infinity', '9007199254740993', '99999999999999999999999',
];
const ADDRESSES = [
  '10.0.0.1', '192.0.2.255', '0.0.0.0', '255.255.255.255', '300.1.1.1', '1.2.3', '1.2.3.4.5', '010.0.0.1', '::', '::1', '2001:db8::1',
  '2001:DB8::1', 'fe80::1%eth0', '::ffff:1.2.3.4', '::ffff:10.0.0.1', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', ':::', '2001:db8:::1', 'gggg::1',
];
const PREFIXES = [
  '10.0.0.0/8', '0.0.0.0/0', '192.0.2.1/32', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '/8', '10.0.0.0/8/8', '10.0.0.0/08', '10.0.0.0/8.0',
  '10.0.0.0/+8', '10.0.0.0/0x8', '10.0.0.0/1e1', '2001:db8::/32', '::/0', '::/128', '::/129', 'fd00::/8', 'FD00::/8', '::ffff:0:0/96',
];
const WORDS = [
  'S', 'SA', 'FR', 'safrpuec', 'X', 'curl', "o'neil", 'root', 'eth0', 'fin', 'rst', 'idle', 'inbound', 'h1', 'test',
  "'", '"', '`', "''", '""', '\\', "'; DROP TABLE flows; --", '1=1', 'OR 1=1', '--', '/*', '*/', ';', '%', '_', '$1', '?', '::text',
  'ß', 'İ', 'ﬃ', 'ＴＣＰ', '٣', '🙂', '\u0000', '\u200b', '\u00a0', 'é', '漢字', '\u202e',
];
const SEPARATORS = [' ', ' ', ' ', ' ', '', '  ', '\t', '\n', '\u00a0', '\r\n'];

const pick = <T>(rng: Rng, list: readonly T[]): T => list[rng.int(list.length)];

/** A number: usually a plausible one, sometimes a boundary or a malformed one. */
function number(rng: Rng): string {
  const r = rng.next();
  if (r < 0.6) return String(rng.int(r < 0.3 ? 70_000 : 2_000_000));
  if (r < 0.7) return `${rng.int(1000)}.${rng.int(100)}${pick(rng, ['', 'k', 'M', 'G', 'm', 'g'])}`;
  if (r < 0.75) return longDigits(rng) + pick(rng, ['', 'k']);
  return pick(rng, NUMBERS);
}

function operator(rng: Rng): string {
  return rng.chance(0.4) ? '' : pick(rng, ['=', '==', '!=', '>', '<', '>=', '<=']) + (rng.chance(0.5) ? ' ' : '');
}

/** A primitive of the grammar with random values. */
function primitive(rng: Rng): string {
  const side = () => pick(rng, ['', '', 'src ', 'dst ']);
  switch (rng.int(10)) {
    case 0:
      return rng.chance(0.5) ? pick(rng, ['tcp', 'udp', 'icmp', 'icmp6']) : `proto ${rng.chance(0.5) ? pick(rng, ['tcp', 'udp', 'icmp', 'icmp6', 'esp', 'gre', 'sctp', 'ah', 'ospf']) : number(rng)}`;
    case 1:
      return `${side()}${pick(rng, ['host', 'ip'])} ${rng.chance(0.8) ? pick(rng, ADDRESSES) : randomText(rng, 8)}`;
    case 2:
      return `${side()}net ${rng.chance(0.8) ? pick(rng, PREFIXES) : `${pick(rng, ADDRESSES)}/${rng.chance(0.5) ? rng.int(140) : pick(rng, NUMBERS)}`}`;
    case 3:
      return `${side()}port ${operator(rng)}${number(rng)}`;
    case 4:
      return `${pick(rng, ['packets', 'bytes', 'duration'])} ${operator(rng)}${number(rng)}`;
    case 5:
      return `${pick(rng, ['pid', 'uid'])} ${operator(rng)}${number(rng)}`;
    case 6:
      return `flags ${rng.chance(0.8) ? pick(rng, ['S', 'SA', 'FR', 'safrpuec', 'A', 'PA', 'X', 'SAX']) : randomText(rng, 4)}`;
    case 7:
    case 8:
      return `${pick(rng, ['process', 'user', 'container', 'iface', 'source', 'host-id', 'end-reason', 'direction'])} ${pick(rng, WORDS)}`;
    default:
      return pick(rng, [...KEYWORDS, ...NUMBERS]);
  }
}

/** A filter from the grammar: terms joined by and/or, with not and parentheses, to a random depth. */
function grammarFilter(rng: Rng, depth = 0): string {
  const terms: string[] = [];
  for (let n = 1 + rng.int(depth > 2 ? 1 : 3); n > 0; n--) {
    let term = rng.chance(0.2) && depth < 4 ? `(${grammarFilter(rng, depth + 1)})` : primitive(rng);
    if (rng.chance(0.15)) term = `${pick(rng, ['not ', '!', 'NOT ', '! '])}${term}`;
    terms.push(term);
  }
  return terms.join(` ${pick(rng, ['and', 'or', '&&', '||', 'AND', 'or'])} `);
}

function tokenSoup(rng: Rng): string {
  const vocabularies = [KEYWORDS, OPERATORS, NUMBERS, ADDRESSES, PREFIXES, WORDS];
  let text = '';
  for (let n = 1 + rng.int(8); n > 0; n--) {
    text += (text === '' ? '' : pick(rng, SEPARATORS)) + pick(rng, pick(rng, vocabularies));
  }
  return text;
}

function input(rng: Rng): string {
  const r = rng.next();
  if (r < 0.45) {
    const filter = grammarFilter(rng);
    // Now and then damage a well-formed filter: cut it, or drop in a stray token.
    if (rng.chance(0.1)) return filter.slice(0, rng.int(filter.length + 1));
    if (rng.chance(0.1)) {
      const at = rng.int(filter.length + 1);
      return filter.slice(0, at) + pick(rng, SEPARATORS) + pick(rng, [...OPERATORS, ...WORDS]) + filter.slice(at);
    }
    return filter;
  }
  if (r < 0.85) return tokenSoup(rng);
  return randomText(rng, 40);
}

/** Why compiling `filter` broke the contract, or null; `sql` is the compiled filter when accepted. */
function check(filter: string): { problem: string | null; sql?: string } {
  let sql: unknown;
  try {
    sql = compileFlowFilter(filter);
  } catch (error) {
    const e = error as Error;
    if (!(error instanceof Error) || e.name !== 'FilterError') return { problem: `threw ${e?.name ?? typeof error}: ${String(error)}` };
    if (/[\r\n]/.test(e.message)) return { problem: `message of more than one line: ${JSON.stringify(e.message).slice(0, 300)}` };
    if (!e.message.startsWith('Cannot parse filter ')) return { problem: `message does not say what failed: ${e.message}` };
    if (!e.message.includes(`"${filter}"`) && !e.message.includes(JSON.stringify(filter))) return { problem: `message does not name the filter: ${e.message}` };
    return { problem: null };
  }
  if (typeof sql !== 'string' || sql.trim() === '') return { problem: `returned ${JSON.stringify(sql)}` };
  return { problem: null, sql };
}

const dirs: string[] = [];
let emptyStore = '';
let fullStore = '';

before(async () => {
  emptyStore = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-filter-fuzz-'));
  fullStore = await fs.mkdtemp(path.join(os.tmpdir(), 'endsight-filter-fuzz-'));
  dirs.push(emptyStore, fullStore);
  await (await FlowStore.open(emptyStore, { quotaBytes: 1e9 })).close();
  const store = await FlowStore.open(fullStore, { quotaBytes: 1e9 });
  store.append(testBatch(200, Date.UTC(2026, 10, 1) * 1000)); // IPv4 and IPv6, TCP and UDP, some with a process
  await store.flush();
  await store.close();
});

after(async () => {
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

test(`compileFlowFilter fuzz: ${CASES} inputs return SQL or throw a one-line FilterError, and accepted SQL runs (FUZZ_SEED=${SEED})`, { timeout: 300_000 }, async () => {
  const rng = new Rng(SEED);
  const failures = new Map<string, string[]>();
  const fail = (kind: string, example: string) => {
    const list = failures.get(kind) ?? [];
    if (list.length < 6) list.push(example);
    failures.set(kind, list);
  };
  const accepted = new Map<string, string>(); // SQL → one filter that compiles to it
  let acceptedCount = 0;
  const began = performance.now();
  for (let i = 0; i < CASES; i++) {
    const filter = input(rng);
    const { problem, sql } = check(filter);
    if (problem !== null) fail(problem.split(':')[0], `${JSON.stringify(filter).slice(0, 160)} → ${problem.slice(0, 300)}`);
    else if (sql !== undefined) {
      acceptedCount++;
      if (!accepted.has(sql)) accepted.set(sql, filter);
    }
  }
  const compileSeconds = (performance.now() - began) / 1000;

  // A random sample of the distinct accepted filters runs in DuckDB, 50 to a query; a failing batch is halved until the culprits are found.
  const distinct = [...accepted];
  for (let i = distinct.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [distinct[i], distinct[j]] = [distinct[j], distinct[i]];
  }
  const plain = distinct.filter(([sql]) => !ADDRESS_SQL.test(sql)).slice(0, SQL_SAMPLE);
  const withAddresses = distinct.filter(([sql]) => ADDRESS_SQL.test(sql));
  const sample = [...plain, ...withAddresses.slice(0, ADDRESS_FILTER_SAMPLE)];
  const phases: string[] = [];
  let failedBatches = 0;
  for (const [name, dir] of [['empty store', emptyStore], ['store with records', fullStore]] as const) {
    const engine = await QueryEngine.open(dir);
    const run = async (batch: [string, string][]): Promise<void> => {
      try {
        await engine.all(`SELECT ${batch.map(([where], k) => `count(*) FILTER (WHERE ${where}) AS c${k}`).join(', ')} FROM flows`);
      } catch (error) {
        const kind = `accepted filter fails in DuckDB (${name})`;
        if (batch.length === 1) {
          const [where, filter] = batch[0];
          fail(kind, `${JSON.stringify(filter).slice(0, 160)} → ${where.slice(0, 160)} → ${(error as Error).message.split('\n')[0].slice(0, 200)}`);
        } else if ((failures.get(kind)?.length ?? 0) >= 6) {
          failedBatches++; // enough examples: do not spend queries finding more
        } else {
          await run(batch.slice(0, batch.length >> 1));
          await run(batch.slice(batch.length >> 1));
        }
      }
    };
    try {
      let t0 = performance.now();
      for (let at = 0; at < plain.length; at += 50) await run(plain.slice(at, at + 50));
      phases.push(`${name}: ${plain.length} filters ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      t0 = performance.now();
      for (const one of sample.slice(plain.length)) await run([one]);
      phases.push(`${name}: ${sample.length - plain.length} with addresses ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      engine.close();
    }
  }

  // Every shape of address literal in accepted filters (digits → 9, hex letters → x), one of each, against records.
  const literals = new Map<string, { term: string; filter: string }>();
  for (const [sql, filter] of withAddresses) {
    for (const m of sql.matchAll(/in_cidr\(\w+, ('(?:[^']|'')*')\)|ip_hex\(('(?:[^']|'')*')\)/g)) {
      const literal = m[1] ?? m[2];
      const term = m[1] !== undefined ? `in_cidr(src_addr, ${literal})` : `ip_hex(src_addr) = ip_hex(${literal})`;
      const shape = `${m[1] !== undefined ? 'net' : 'host'} ${literal.replace(/[0-9]+/g, '9').replace(/[a-f]+/gi, 'x')}`;
      if (!literals.has(shape)) literals.set(shape, { term, filter });
    }
  }
  const literalSample = [...literals.values()].slice(0, ADDRESS_LITERAL_SAMPLE);
  const t0 = performance.now();
  const engine = await QueryEngine.open(fullStore);
  try {
    for (const { term, filter } of literalSample) {
      try {
        await engine.all(`SELECT count(*) FROM flows WHERE ${term}`);
      } catch (error) {
        fail('accepted address term fails in DuckDB (store with records)', `${JSON.stringify(filter).slice(0, 160)} → ${term} → ${(error as Error).message.split('\n')[0].slice(0, 200)}`);
      }
    }
  } finally {
    engine.close();
  }
  phases.push(`${literalSample.length} address literals ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(phases.join('; ') + (failedBatches > 0 ? `; ${failedBatches} more failing batches not searched` : ''));
  console.log(
    `flow-filter fuzz: ${CASES} cases in ${compileSeconds.toFixed(1)} s, ${acceptedCount} accepted (${accepted.size} distinct SQL), ` +
      `${sample.length} run in DuckDB (${plain.length} without address terms) and ${literalSample.length} of ${literals.size} address-literal shapes in ${((performance.now() - began) / 1000 - compileSeconds).toFixed(1)} s`,
  );
  const report = [...failures].map(([kind, examples]) => `${kind}:\n  ${examples.join('\n  ')}`).join('\n');
  assert.equal(failures.size, 0, `compileFlowFilter broke its contract (FUZZ_SEED=${SEED}):\n${report}`);
  assert.ok(acceptedCount > CASES / 10, `only ${acceptedCount} filters accepted: the generator is not reaching the compiler's success path`);
  assert.ok(plain.length >= Math.min(SQL_SAMPLE, 500), `only ${plain.length} distinct accepted filters without address terms to run`);
  assert.ok(literalSample.length >= 10, `only ${literalSample.length} shapes of address literals`);
});
