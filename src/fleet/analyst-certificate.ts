/**
 * Analyst certificates (issue 4, "roles: who may sign which queries, e.g. an analyst key limited to
 * listed query templates"). The authority signs, once, a certificate naming an analyst's own Ed25519
 * public key and the query templates that key may sign; the analyst then signs queries with their
 * own key, sending the certificate along. A host accepts such a query only when:
 *
 *   - the certificate is the authority's and valid now (bad_certificate, certificate_expired);
 *   - the envelope is signed by the certificate's key and its issuer is the certificate's name;
 *   - the envelope names one of the certificate's templates and its parameters (not_allowed), and
 *   - the SQL the host is asked to run is exactly what the coordinator's planner makes of that
 *     template with those parameters: the host plans it itself and compares (query-responder.ts).
 *
 * A template is one SELECT with named parameters `$name`, each replaced by an SQL literal of its
 * value (a string, quoted; or a finite number, in parentheses), and never inside quotes or comments
 * (templateProblem): a parameter gives a value, never SQL.
 */
import { createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson, QueryRefused } from './signed-query.js';

export const CERTIFICATE_VERSION = 1;

export interface AnalystCertificate {
  v: number;
  /** The analyst's name: the issuer of every query they sign. */
  name: string;
  /** The analyst's Ed25519 public key, SPKI PEM. */
  publicKey: string;
  /** Template name → SQL with $parameters. */
  templates: Record<string, string>;
  /** Whether the analyst may register the templates as standing queries (endsight watch). */
  standing?: boolean;
  notBefore: string;
  notAfter: string;
}

/** On the wire: the certificate's canonical JSON and the authority's Ed25519 signature over it. */
export interface SignedCertificate {
  body: string;
  signature: string;
}

/** Which template an envelope instantiates, with which parameters. */
export interface TemplateUse {
  name: string;
  params: Record<string, string | number>;
}

/** The authority signs an analyst's certificate. */
export function issueCertificate(
  authorityKey: KeyObject,
  fields: { name: string; publicKeyPem: string; templates: Record<string, string>; standing?: boolean },
  validMs: number,
  now = Date.now(),
): SignedCertificate {
  if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(fields.name)) throw new RangeError(`Cannot certify "${fields.name}": a name is 1 to 64 letters, digits, _ . @ or -`);
  const key = createPublicKey(fields.publicKeyPem);
  if (key.asymmetricKeyType !== 'ed25519') throw new RangeError("Cannot certify the analyst's key: it is not Ed25519 (make one with endsight keys init)");
  if (Object.keys(fields.templates).length === 0) throw new RangeError('Cannot certify an analyst without a template: give at least one --template NAME=SQL');
  for (const [name, sql] of Object.entries(fields.templates)) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) throw new RangeError(`Cannot use the template name "${name}": 1 to 64 letters, digits, _ or -`);
    const problem = templateProblem(sql);
    if (problem) throw new RangeError(`Cannot certify the template ${name}: ${problem}`);
  }
  const certificate: AnalystCertificate = {
    v: CERTIFICATE_VERSION,
    name: fields.name,
    publicKey: key.export({ type: 'spki', format: 'pem' }).toString(),
    templates: fields.templates,
    ...(fields.standing ? { standing: true } : {}),
    notBefore: new Date(now).toISOString(),
    notAfter: new Date(now + validMs).toISOString(),
  };
  const body = canonicalJson(certificate);
  return { body, signature: sign(null, Buffer.from(body, 'utf8'), authorityKey).toString('base64') };
}

/** Checks a certificate that came with a query (from the wire); returns it and the analyst's key, or throws QueryRefused. */
export function verifyCertificate(value: unknown, authority: KeyObject, now: number, skewMs: number): { certificate: AnalystCertificate; key: KeyObject } {
  const signed = value as Partial<SignedCertificate> | null;
  if (signed === null || typeof signed !== 'object' || typeof signed.body !== 'string' || typeof signed.signature !== 'string') {
    throw new QueryRefused('bad_certificate', 'the certificate lacks a body and a signature');
  }
  const signature = Buffer.from(signed.signature, 'base64');
  if (signature.length !== 64 || !verify(null, Buffer.from(signed.body, 'utf8'), authority, signature)) {
    throw new QueryRefused('bad_certificate', "the certificate is not signed by the authority's key");
  }
  let certificate: AnalystCertificate;
  try {
    certificate = JSON.parse(signed.body) as AnalystCertificate;
  } catch {
    throw new QueryRefused('bad_certificate', 'the certificate is not JSON');
  }
  const templates = certificate?.templates as unknown;
  if (
    certificate?.v !== CERTIFICATE_VERSION || typeof certificate.name !== 'string' || typeof certificate.publicKey !== 'string' ||
    templates === null || typeof templates !== 'object' || !Object.values(templates as object).every((sql) => typeof sql === 'string')
  ) {
    throw new QueryRefused('bad_certificate', 'the certificate lacks a field or has one of the wrong type');
  }
  const notBefore = Date.parse(certificate.notBefore);
  const notAfter = Date.parse(certificate.notAfter);
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) throw new QueryRefused('bad_certificate', 'notBefore and notAfter must be ISO times');
  if (now < notBefore - skewMs || now > notAfter + skewMs) throw new QueryRefused('certificate_expired', `the certificate of ${certificate.name} is valid from ${certificate.notBefore} to ${certificate.notAfter}`);
  let key: KeyObject;
  try {
    key = createPublicKey(certificate.publicKey);
  } catch {
    throw new QueryRefused('bad_certificate', "the certificate's key is not a PEM public key");
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new QueryRefused('bad_certificate', "the certificate's key is not Ed25519");
  return { certificate, key };
}

/**
 * The template's SQL with each $name replaced by its value's SQL literal: a string quoted, a number
 * in parentheses (so that `100-$n` with n = -5 stays arithmetic, not a comment). A parameter inside a
 * string literal, a quoted name or a comment is refused (templateProblem): there, a value would be
 * spliced into text and could end it. A missing or unused parameter is an error.
 */
export function instantiateTemplate(sql: string, params: Record<string, unknown>): string {
  const problem = templateProblem(sql);
  if (problem) throw new RangeError(problem);
  const used = new Set<string>();
  const text = sql.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    if (!Object.hasOwn(params, name)) throw new RangeError(`the template needs the parameter ${name} (--param ${name}=VALUE)`);
    used.add(name);
    const value = params[name];
    if (typeof value === 'number' && Number.isFinite(value)) return `(${value})`;
    if (typeof value === 'string') return `'${value.replace(/'/g, "''")}'`;
    throw new RangeError(`the parameter ${name} must be a string or a finite number`);
  });
  const unused = Object.keys(params).filter((name) => !used.has(name));
  if (unused.length > 0) throw new RangeError(`the template has no parameter ${unused.join(', ')}`);
  return text;
}

/**
 * Why a template cannot be certified, or null: a $parameter inside '…', "…", a -- or a block comment,
 * or a quote or comment left open. Scanned as DuckDB reads SQL text: '' and "" escape their quote.
 */
export function templateProblem(sql: string): string | null {
  let i = 0;
  while (i < sql.length) {
    const c = sql[i];
    const two = sql.slice(i, i + 2);
    let end = -1;
    let what = '';
    if (c === "'" || c === '"') {
      what = c === "'" ? 'a string literal' : 'a quoted name';
      end = i + 1;
      for (;;) {
        const next = sql.indexOf(c, end);
        if (next < 0) return `the template leaves ${what} open`;
        if (sql[next + 1] === c) end = next + 2;
        else {
          end = next + 1;
          break;
        }
      }
    } else if (two === '--') {
      what = 'a comment';
      const next = sql.indexOf('\n', i);
      end = next < 0 ? sql.length : next;
    } else if (two === '/*') {
      what = 'a comment';
      const next = sql.indexOf('*/', i + 2);
      if (next < 0) return 'the template leaves a comment open';
      end = next + 2;
    }
    if (end < 0) {
      i++;
      continue;
    }
    if (/\$[A-Za-z_]/.test(sql.slice(i, end))) return `the template has a $parameter inside ${what}; write it outside (process = $name, not process = '$name')`;
    i = end;
  }
  return null;
}

/** Whether a value (from a signed envelope, still from the wire) has a TemplateUse's shape. */
export function isTemplateUse(value: unknown): value is TemplateUse {
  const use = value as Partial<TemplateUse> | null;
  return (
    use !== null && typeof use === 'object' && typeof use.name === 'string' && use.params !== null && typeof use.params === 'object' &&
    Object.values(use.params).every((v) => typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))
  );
}
