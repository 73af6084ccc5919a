/**
 * Analyst certificates: an analyst's key signs only the templates its certificate lists, with
 * parameters that are values and never SQL; every other use is refused with its reason, and a host
 * runs an analyst's query only when its SQL is what the template gives.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { instantiateTemplate, issueCertificate } from './analyst-certificate.js';
import { openMergeEngine, type MergeEngine } from './merge-engine.js';
import { planFleetQuery } from './query-plan.js';
import { QueryResponder } from './query-responder.js';
import { generateAuthorityKeys, loadKey, NonceCache, QueryRefused, signQuery, verifySignedQuery, type HostIdentity } from './signed-query.js';
import { writeHostStores } from './test-stores.js';

const authorityKeys = generateAuthorityKeys();
const authority = loadKey(authorityKeys.privateKeyPem, 'private', 'authority');
const authorityPublic = loadKey(authorityKeys.publicKeyPem, 'public', 'authority');
const analystKeys = generateAuthorityKeys();
const analyst = loadKey(analystKeys.privateKeyPem, 'private', 'alice');
const host: HostIdentity = { id: 'host-0', site: 'paris', tags: [], addresses: [] };
const TEMPLATE = 'SELECT process, sum(bytes) AS bytes FROM flows WHERE host = $host AND bytes > $min GROUP BY process ORDER BY bytes DESC LIMIT 5';
const NOW = Date.parse('2026-12-01T12:00:00Z');
const DAY = 24 * 3600_000;
const certificate = issueCertificate(authority, { name: 'alice', publicKeyPem: analystKeys.publicKeyPem, templates: { 'top-apps': TEMPLATE } }, 30 * DAY, NOW);
const fields = { query: 'SELECT 1', target: 'all', limits: { timeoutMs: 5000, maxRows: 100 }, issuer: 'alice', audience: 'lab', template: { name: 'top-apps', params: { host: 'host-0', min: 0 } } };

function outcome(signed: unknown, now = NOW): string {
  try {
    const envelope = verifySignedQuery(JSON.stringify(signed), authorityPublic, { audience: 'lab', host }, new NonceCache(), now);
    return envelope.allowedBy ? `allowed: ${envelope.allowedBy.sql}` : 'accepted';
  } catch (error) {
    assert.ok(error instanceof QueryRefused, String(error));
    return error.code;
  }
}

describe('analyst certificates', () => {
  it('lets an analyst sign the templates of their certificate, and nothing else', () => {
    assert.equal(outcome(signQuery(analyst, fields, NOW, 60_000, certificate)), `allowed: ${instantiateTemplate(TEMPLATE, { host: 'host-0', min: 0 })}`);
    const cases: [string, unknown, number?][] = [
      ['bad_certificate', signQuery(analyst, fields, NOW, 60_000, issueCertificate(loadKey(generateAuthorityKeys().privateKeyPem, 'private', 'x'), { name: 'alice', publicKeyPem: analystKeys.publicKeyPem, templates: { 'top-apps': TEMPLATE } }, DAY, NOW))],
      ['bad_certificate', signQuery(analyst, fields, NOW, 60_000, { ...certificate, body: certificate.body.replace('top-apps', 'any-sql') })],
      ['certificate_expired', signQuery(analyst, fields, NOW + 31 * DAY, 60_000, certificate), NOW + 31 * DAY],
      ['bad_signature', signQuery(loadKey(generateAuthorityKeys().privateKeyPem, 'private', 'mallory'), fields, NOW, 60_000, certificate)],
      ['not_allowed', signQuery(analyst, { ...fields, issuer: 'bob' }, NOW, 60_000, certificate)],
      ['not_allowed', signQuery(analyst, { ...fields, template: undefined }, NOW, 60_000, certificate)],
      ['not_allowed', signQuery(analyst, { ...fields, template: { name: 'everything', params: {} } }, NOW, 60_000, certificate)],
      ['not_allowed', signQuery(analyst, { ...fields, template: { name: 'top-apps', params: { host: 'host-0' } } }, NOW, 60_000, certificate)],
      ['not_allowed', signQuery(analyst, { ...fields, template: { name: 'top-apps', params: { host: 'host-0', min: 0, extra: 1 } } }, NOW, 60_000, certificate)],
      // Without the certificate, the analyst's signature is simply not the authority's.
      ['bad_signature', signQuery(analyst, fields, NOW)],
    ];
    for (const [code, signed, now] of cases) assert.equal(outcome(signed, now), code);
  });

  it('turns parameters into literals, never into SQL', () => {
    assert.equal(instantiateTemplate('SELECT * FROM flows WHERE process = $p', { p: "x' OR true --" }), "SELECT * FROM flows WHERE process = 'x'' OR true --'");
    assert.equal(instantiateTemplate('SELECT $n AS n', { n: 2.5 }), 'SELECT (2.5) AS n');
    // A negative number stays arithmetic: 100--5 would start a comment.
    assert.equal(instantiateTemplate("SELECT * FROM flows WHERE bytes > 100-$n AND process = 'ssh'", { n: -5 }), "SELECT * FROM flows WHERE bytes > 100-(-5) AND process = 'ssh'");
    // Inside quotes or comments a value would become SQL text: such templates are refused.
    for (const template of ["SELECT * FROM flows WHERE process = '$p'", 'SELECT "$p" FROM flows', 'SELECT 1 -- $p', 'SELECT 1 /* $p */', "SELECT 'open"]) {
      assert.throws(() => instantiateTemplate(template, { p: "' OR true OR '" }), /inside|open/, template);
      assert.throws(() => issueCertificate(authority, { name: 'alice', publicKeyPem: analystKeys.publicKeyPem, templates: { t: template } }, DAY), /Cannot certify the template t/, template);
    }
    assert.equal(instantiateTemplate("SELECT 'it''s' AS a, $p AS b", { p: 'x' }), "SELECT 'it''s' AS a, 'x' AS b");
    assert.throws(() => instantiateTemplate('SELECT $n', { n: { sql: 'x' } }), /must be a string or a finite number/);
    assert.throws(() => issueCertificate(authority, { name: 'alice', publicKeyPem: analystKeys.publicKeyPem, templates: {} }, DAY), /at least one --template/);
  });

  describe('on a host', () => {
    let dir = '';
    let responder: QueryResponder;
    let planner: MergeEngine;
    before(async () => {
      dir = mkdtempSync(path.join(tmpdir(), 'endsight-analyst-'));
      const stores = await writeHostStores(dir, [800]);
      responder = new QueryResponder({ identity: host, audience: 'lab', authority: authorityPublic, dataDir: stores.hosts[0], log: pino({ level: 'silent' }) });
      planner = await openMergeEngine();
    });
    after(async () => {
      await responder?.close();
      planner?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('runs what the template gives, and refuses other SQL under the template\'s name', async () => {
      const params = { host: 'host-0', min: 1000 };
      const plan = await planFleetQuery(planner.connection, instantiateTemplate(TEMPLATE, params));
      assert.ok(plan.kind === 'aggregate');
      const ask = (query: string): Promise<import('./query-responder.js').HostAnswer> =>
        responder.answer(Buffer.from(JSON.stringify(signQuery(analyst, { ...fields, query, template: { name: 'top-apps', params } }, Date.now(), 60_000, certificate))));
      const answer = await ask(plan.hostSql);
      assert.ok(answer.ok, JSON.stringify(answer));
      assert.ok(answer.rows.length > 0);
      const other = await planFleetQuery(planner.connection, 'SELECT src_addr AS process, sum(bytes) AS bytes FROM flows GROUP BY 1 ORDER BY 2 DESC LIMIT 5');
      assert.ok(other.kind === 'aggregate');
      const refused = await ask(other.hostSql);
      assert.deepEqual(refused.ok ? 'ok' : refused.code, 'not_allowed');
    });
  });
});
