/**
 * The host's sandbox for signed queries (issue 4, "queries run in a sandbox"): file reads outside the
 * store, writes, ATTACH, INSTALL/LOAD, SET of a locked setting are refused; a recursive CTE that never
 * ends is stopped within the time limit; a query over the memory limit fails alone; queries beyond the
 * concurrency limit wait their turn; row and byte limits cut the answer and say so.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { QueryResponder, type HostAnswer } from './query-responder.js';
import { generateAuthorityKeys, loadKey, signQuery, type HostIdentity, type QueryLimits } from './signed-query.js';
import { writeHostStores } from './test-stores.js';

const IDENTITY: HostIdentity = { id: 'host-0', site: 'paris', tags: [], addresses: ['10.1.0.10'] };
const keys = generateAuthorityKeys();
const signKey = loadKey(keys.privateKeyPem, 'private', 'test key');

describe('a host answers signed queries inside its sandbox', { timeout: 60_000 }, () => {
  let dir = '';
  let responder: QueryResponder;
  const audit: Record<string, unknown>[] = [];

  const ask = (query: string, limits: Partial<QueryLimits> = {}, on = responder): Promise<HostAnswer> => {
    const signed = signQuery(signKey, { query, target: 'all', limits: { timeoutMs: 5000, maxRows: 1000, ...limits }, issuer: 'test', audience: 'lab' });
    return on.answer(Buffer.from(JSON.stringify(signed)));
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'endsight-sandbox-'));
    const stores = await writeHostStores(dir, [3000]);
    const log = pino({ level: 'info' }, { write: (line: string) => void audit.push(JSON.parse(line) as Record<string, unknown>) });
    responder = new QueryResponder({ identity: IDENTITY, audience: 'lab', authority: loadKey(keys.publicKeyPem, 'public', 'pub'), dataDir: stores.hosts[0], log, memoryLimit: '64MB' });
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers a plain query, naming the host', async () => {
    const answer = await ask('SELECT count(*) AS n FROM flows');
    assert.deepEqual(answer.ok && answer.rows, [[3000]]);
    assert.equal(answer.host, 'host-0');
  });

  it('refuses file access, writes, ATTACH, INSTALL, LOAD and SET, each with a reason', async () => {
    const outside = path.join(dir, 'written.csv');
    const escapes: [string, RegExp][] = [
      ["SELECT * FROM read_csv('/etc/passwd')", /Permission Error|disabled/i],
      ["SELECT * FROM read_text('/etc/hostname')", /Permission Error|disabled/i],
      [`SELECT * FROM read_parquet('${path.join(dir, 'all', 'flows', 'day=*', '*.parquet')}')`, /Permission Error|disabled|not allowed/i],
      [`COPY (SELECT * FROM flows) TO '${outside}'`, /only SELECT is allowed/],
      [`ATTACH '${path.join(dir, 'x.duckdb')}' AS x`, /only SELECT is allowed/],
      ['INSTALL httpfs', /only SELECT is allowed/],
      ['LOAD httpfs', /only SELECT is allowed/],
      ['SET enable_external_access = true', /only SELECT is allowed/],
      ['PRAGMA threads = 8', /only SELECT is allowed/],
      ['RESET lock_configuration', /only SELECT is allowed/],
      ["SELECT * FROM read_blob('/proc/self/environ')", /Permission Error|disabled/i],
      ["SELECT * FROM glob('/etc/*')", /Permission Error|disabled|not allowed/i],
      ["SELECT count(*) FROM flows; SELECT * FROM read_csv('/etc/passwd')", /exactly one SQL statement/],
    ];
    for (const [sql, reason] of escapes) {
      const answer = await ask(sql);
      assert.equal(answer.ok, false, `${sql}: answered ${JSON.stringify(answer)}`);
      if (!answer.ok) {
        assert.equal(answer.code, 'query_failed', sql);
        assert.match(answer.error, reason, sql);
      }
    }
    assert.equal(existsSync(outside), false);
    assert.equal(existsSync(path.join(dir, 'x.duckdb')), false);
  });

  it('stops a recursive CTE that never ends within the time limit', async () => {
    const started = Date.now();
    const answer = await ask('WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t', { timeoutMs: 1000 });
    const elapsed = Date.now() - started;
    assert.equal(answer.ok, false);
    // Stopped by the interrupt, or by the memory limit before it: either way, within the time limit.
    if (!answer.ok) assert.ok(answer.code === 'timeout' || /memory/i.test(answer.error), `${answer.code}: ${answer.error}`);
    assert.ok(elapsed < 2500, `stopped after ${elapsed} ms (limit 1000 ms)`);
    // And the host answers the next query.
    assert.equal((await ask('SELECT 1 AS one')).ok, true);
  });

  it('fails a query over the memory limit alone', async () => {
    const answer = await ask('SELECT list(range) AS l FROM range(50000000)', { timeoutMs: 20_000 });
    assert.equal(answer.ok, false);
    if (!answer.ok) assert.match(answer.error, /memory/i);
    assert.equal((await ask('SELECT count(*) FROM flows')).ok, true);
  });

  it('cuts answers at the row limit and says so', async () => {
    const answer = await ask('SELECT * FROM flows', { maxRows: 10 });
    assert.ok(answer.ok);
    if (answer.ok) {
      assert.equal(answer.rows.length, 10);
      assert.equal(answer.truncated, true);
    }
    const big = await ask("SELECT repeat('x', 1000) AS pad FROM range(5000)", { maxRows: 100_000 });
    assert.ok(big.ok && big.truncated && big.rows.length < 1000, 'the byte limit cut it');
  });

  it('runs at most maxConcurrent queries at once; the others wait their turn', async () => {
    const one = new QueryResponder({
      identity: IDENTITY, audience: 'lab', authority: loadKey(keys.publicKeyPem, 'public', 'pub'),
      dataDir: path.join(dir, 'h0'), log: pino({ level: 'silent' }), maxConcurrent: 1,
    });
    const started = Date.now();
    const slow = ask('WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t) SELECT count(*) FROM t', { timeoutMs: 800 }, one);
    const quick = ask('SELECT count(*) FROM flows', {}, one).then((answer) => ({ answer, at: Date.now() - started }));
    const [slowAnswer, quickDone] = await Promise.all([slow, quick]);
    assert.equal(slowAnswer.ok, false);
    assert.equal(quickDone.answer.ok, true);
    assert.ok(quickDone.at >= 700, `the second query ran after the first (${quickDone.at} ms)`);
  });

  it('answers a query asked again (same query id, new envelope, or the same envelope) from the first run; other replays are refused', async () => {
    const fields = { query: 'SELECT count(*) AS n FROM flows', limits: { timeoutMs: 5000, maxRows: 10 }, issuer: 'test', audience: 'lab', queryId: 'q-1' };
    const first = signQuery(signKey, { ...fields, target: 'all' });
    const again = signQuery(signKey, { ...fields, target: 'host:host-0' });
    const runsBefore = audit.filter((line) => line.audit === 'query run').length;
    const answers = await Promise.all([responder.answer(Buffer.from(JSON.stringify(first))), responder.answer(Buffer.from(JSON.stringify(again)))]);
    assert.deepEqual(answers[0], answers[1]);
    assert.equal(audit.filter((line) => line.audit === 'query run').length, runsBefore + 1, 'run once');
    assert.equal(audit.filter((line) => line.audit === 'query asked again' && line.queryId === 'q-1').length, 1);
    // A site aggregator cannot sign: it asks a silent host again with the same envelope, and gets the kept answer.
    const resent = await responder.answer(Buffer.from(JSON.stringify(again)));
    assert.deepEqual(resent, answers[0]);
    assert.equal(audit.filter((line) => line.audit === 'query run').length, runsBefore + 1, 'still run once');
    // Without a kept answer (no query id), an envelope seen before is refused.
    const once = signQuery(signKey, { ...fields, queryId: undefined, target: 'all' });
    assert.equal((await responder.answer(Buffer.from(JSON.stringify(once)))).ok, true);
    const replayed = await responder.answer(Buffer.from(JSON.stringify(once)));
    assert.equal(!replayed.ok && replayed.code, 'replayed');
    // Another query under the same id is run on its own.
    const other = await responder.answer(Buffer.from(JSON.stringify(signQuery(signKey, { ...fields, query: 'SELECT 2 AS two', target: 'all' }))));
    assert.deepEqual(other.ok && other.rows, [[2]]);
  });

  it('writes one audit line per query, with the issuer and the outcome', () => {
    const lines = audit.filter((line) => line.audit === 'query run');
    assert.ok(lines.length >= 15, `${lines.length} audit lines`);
    assert.ok(lines.every((line) => line.issuer === 'test' && typeof line.nonce === 'string' && typeof line.query === 'string' && typeof line.outcome === 'string'));
    assert.ok(lines.some((line) => line.outcome === 'query_failed' && String(line.query).includes('/etc/passwd')));
  });
});
