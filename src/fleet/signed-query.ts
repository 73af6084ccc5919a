/**
 * Signed query envelopes (issue 4, "security, as the paper asks"): a query runs on a host only when
 * the designated authority signed exactly what runs, for whom, within which limits, and until when,
 * or an analyst did, under a certificate of the authority's that lists the query's template
 * (analyst-certificate.ts; the host then checks that the SQL is the template's).
 *
 * The envelope is canonical JSON (keys sorted, no spaces), signed with Ed25519 (RFC 8032) over its
 * UTF-8 bytes; the message on the wire is `{"envelope": "<canonical JSON>", "signature": "<base64>"}`.
 * The agent checks, in order: size and shape, signature, version, audience, validity window (with
 * a clock-skew allowance), nonce not seen before (a cache kept until the envelopes expire), and that
 * it is among the targets. Every refusal has a reason code for the audit log.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { parseAddress } from '../decode/index.js';
import { parseCidr, samePrefix } from '../decode/prefix.js';
import type { MergeSpec } from './merge-answers.js';
import { standingProblem, type StandingSpec } from './standing-queries.js';
import { instantiateTemplate, isTemplateUse, verifyCertificate, type SignedCertificate, type TemplateUse } from './analyst-certificate.js';

export const ENVELOPE_VERSION = 1;
/** Larger messages are refused before parsing. */
export const MAX_MESSAGE_BYTES = 64 * 1024;
/** How far the issuer's and the host's clocks may disagree. */
export const CLOCK_SKEW_MS = 30_000;
/** The longest validity an envelope may claim: a stolen one is useless after this. */
export const MAX_LIFETIME_MS = 15 * 60_000;
/** The most an envelope may ask of a host: a run's time and its rows (the row and byte limits still cut answers). */
export const MAX_QUERY_TIMEOUT_MS = 10 * 60_000;
export const MAX_QUERY_ROWS = 10_000_000;

export interface QueryLimits {
  /** Wall-clock limit of the host's run, ms. */
  timeoutMs: number;
  /** Rows a host may return. */
  maxRows: number;
}

export interface QueryEnvelope {
  v: number;
  /** The exact SQL the host runs (the plan's host query). */
  query: string;
  /** all | host:ID | site:NAME | tag:T | net:CIDR */
  target: string;
  limits: QueryLimits;
  /** Only flows active in this window, µs since the epoch (the query's --since/--between); null: all. */
  window?: { fromUs: number | null; toUs: number | null } | null;
  /** Who asked (the signer's name, for the audit log). */
  issuer: string;
  /** The fleet the envelope is for: a host of another fleet refuses it. */
  audience: string;
  issuedAt: string;
  expiresAt: string;
  /** 128 random bits, base64: an envelope is accepted once. */
  nonce: string;
  /**
   * The coordinator's query this envelope belongs to. When a host that did not answer is asked again
   * (a new envelope, a new nonce), the host sends the answer it has or is making for this id instead
   * of running the query twice.
   */
  queryId?: string;
  /**
   * How a site aggregator merges its hosts' answers (merge-answers.ts); hosts ignore it. Signed with
   * the rest, so an aggregator trusts it as it trusts the query.
   */
  merge?: MergeSpec;
  /** A standing query (standing-queries.ts): the host runs it every period and pushes the results. */
  standing?: StandingSpec;
  /** The certificate's template this query instantiates (analyst-certificate.ts); required when an analyst signs. */
  template?: TemplateUse;
}

export interface SignedQuery {
  envelope: string;
  signature: string;
  /** Present when an analyst signed, not the authority: the analyst's certificate. */
  certificate?: SignedCertificate;
}

/** An accepted envelope; `allowedBy` when an analyst signed it: the SQL its template gives. */
export type VerifiedEnvelope = QueryEnvelope & { allowedBy?: { analyst: string; template: string; sql: string; standing: boolean } };

/** Why a host refused an envelope: a code for the audit log and metrics, and a sentence. */
export class QueryRefused extends Error {
  override name = 'QueryRefused';
  constructor(
    readonly code:
      | 'malformed' | 'bad_signature' | 'unsupported_version' | 'wrong_audience' | 'not_yet_valid' | 'expired' | 'too_long_lived' | 'replayed' | 'not_targeted'
      | 'bad_certificate' | 'certificate_expired' | 'not_allowed',
    message: string,
  ) {
    super(message);
  }
}

/** The authority's key pair, PEM (PKCS#8 private, SPKI public). */
export function generateAuthorityKeys(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** Reads a PEM key, refusing anything but Ed25519; `what` names it in the error. */
export function loadKey(pem: string, kind: 'private' | 'public', what: string): KeyObject {
  let key: KeyObject;
  try {
    key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem);
  } catch (error) {
    throw new RangeError(`${what} is not a PEM ${kind} key: ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new RangeError(`${what} is a ${key.asymmetricKeyType ?? 'unknown'} key; endsight's authority keys are Ed25519 (endsight keys init)`);
  return key;
}

/** Signs a new envelope for `query` valid for `lifetimeMs` from `now`. */
export function signQuery(
  privateKey: KeyObject,
  fields: {
    query: string; target: string; limits: QueryLimits; issuer: string; audience: string;
    window?: QueryEnvelope['window']; queryId?: string; merge?: MergeSpec; standing?: StandingSpec; template?: TemplateUse;
  },
  now = Date.now(),
  lifetimeMs = 60_000,
  /** The signer's certificate, when the signer is an analyst. */
  certificate?: SignedCertificate,
): SignedQuery {
  const envelope: QueryEnvelope = {
    v: ENVELOPE_VERSION,
    ...fields,
    issuedAt: new Date(now).toISOString(),
    expiresAt: new Date(now + lifetimeMs).toISOString(),
    nonce: randomBytes(16).toString('base64'),
  };
  const text = canonicalJson(envelope);
  return { envelope: text, signature: sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64'), ...(certificate ? { certificate } : {}) };
}

/** What a host knows about itself, to decide whether it is targeted. */
export interface HostIdentity {
  id: string;
  site: string | null;
  tags: readonly string[];
  /** The host's addresses, for net: targets. */
  addresses: readonly string[];
}

/**
 * Checks a signed query as a host receives it (bytes from the wire). Returns the envelope, or throws
 * QueryRefused. `seen` remembers accepted nonces until their envelopes expire. An envelope seen before
 * is still accepted when `askedAgain` says it is a repeated ask whose answer the host keeps (a site
 * aggregator, which cannot sign, asks a silent host again with the same envelope): the host then
 * sends the kept answer and runs nothing.
 */
export function verifySignedQuery(
  message: Uint8Array | string,
  authority: KeyObject,
  /** host: null for a site aggregator, which serves every target within its site. */
  expected: { audience: string; host: HostIdentity | null },
  seen: NonceCache,
  now = Date.now(),
  askedAgain: (envelope: QueryEnvelope) => boolean = () => false,
): VerifiedEnvelope {
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : Buffer.from(message);
  if (bytes.length > MAX_MESSAGE_BYTES) throw new QueryRefused('malformed', `message of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`);
  let outer: unknown;
  try {
    outer = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new QueryRefused('malformed', 'message is not JSON');
  }
  const signed = outer as Partial<SignedQuery> | null;
  if (signed === null || typeof signed !== 'object' || typeof signed.envelope !== 'string' || typeof signed.signature !== 'string') {
    throw new QueryRefused('malformed', 'message lacks an envelope and a signature');
  }
  // Signed by the authority itself, or by an analyst whose certificate the authority signed.
  const analyst = signed.certificate === undefined ? null : verifyCertificate(signed.certificate, authority, now, CLOCK_SKEW_MS);
  const signature = Buffer.from(signed.signature, 'base64');
  if (signature.length !== 64 || !verify(null, Buffer.from(signed.envelope, 'utf8'), analyst?.key ?? authority, signature)) {
    throw new QueryRefused('bad_signature', analyst ? `the signature is not ${analyst.certificate.name}'s over this envelope` : "the signature is not the authority's over this envelope");
  }
  const envelope: VerifiedEnvelope = parseEnvelope(signed.envelope);
  if (envelope.v !== ENVELOPE_VERSION) throw new QueryRefused('unsupported_version', `envelope version ${envelope.v}; this agent understands ${ENVELOPE_VERSION}`);
  if (envelope.audience !== expected.audience) throw new QueryRefused('wrong_audience', `envelope is for fleet "${envelope.audience}", this host is in "${expected.audience}"`);
  const issued = Date.parse(envelope.issuedAt);
  const expires = Date.parse(envelope.expiresAt);
  if (!Number.isFinite(issued) || !Number.isFinite(expires)) throw new QueryRefused('malformed', 'issuedAt and expiresAt must be ISO times');
  if (issued > now + CLOCK_SKEW_MS) throw new QueryRefused('not_yet_valid', `issued at ${envelope.issuedAt}, in this host's future`);
  if (expires < now - CLOCK_SKEW_MS) throw new QueryRefused('expired', `expired at ${envelope.expiresAt}`);
  if (expires - issued > MAX_LIFETIME_MS) throw new QueryRefused('too_long_lived', `valid for ${Math.round((expires - issued) / 1000)} s; at most ${MAX_LIFETIME_MS / 1000} s`);
  if (expected.host !== null && !targets(envelope.target, expected.host)) throw new QueryRefused('not_targeted', `target ${envelope.target} does not include host ${expected.host.id}`);
  if (analyst) envelope.allowedBy = allowedBy(envelope, analyst.certificate);
  if (!seen.add(envelope.nonce, expires + CLOCK_SKEW_MS, now) && !askedAgain(envelope)) throw new QueryRefused('replayed', `nonce ${envelope.nonce} was already used`);
  return envelope;
}

/** What an analyst's envelope may run: its template with its parameters, if the certificate lists it. */
function allowedBy(envelope: QueryEnvelope, certificate: import('./analyst-certificate.js').AnalystCertificate): NonNullable<VerifiedEnvelope['allowedBy']> {
  if (envelope.issuer !== certificate.name) throw new QueryRefused('not_allowed', `the envelope's issuer "${envelope.issuer}" is not the certificate's name "${certificate.name}"`);
  if (!isTemplateUse(envelope.template)) throw new QueryRefused('not_allowed', `${certificate.name} may only sign the templates of their certificate, and this envelope names none`);
  const template = certificate.templates[envelope.template.name];
  if (typeof template !== 'string' || !Object.hasOwn(certificate.templates, envelope.template.name)) {
    throw new QueryRefused('not_allowed', `the certificate of ${certificate.name} has no template "${envelope.template.name}" (it has ${Object.keys(certificate.templates).join(', ')})`);
  }
  try {
    return { analyst: certificate.name, template: envelope.template.name, sql: instantiateTemplate(template, envelope.template.params), standing: certificate.standing === true };
  } catch (error) {
    throw new QueryRefused('not_allowed', `template ${envelope.template.name}: ${(error as Error).message}`);
  }
}

function parseEnvelope(text: string): QueryEnvelope {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new QueryRefused('malformed', 'envelope is not JSON');
  }
  const e = value as Record<string, unknown> | null;
  const isString = (k: string): boolean => typeof e?.[k] === 'string';
  const limits = e?.limits as Record<string, unknown> | undefined;
  if (
    e === null || typeof e !== 'object' || typeof e.v !== 'number' ||
    !['query', 'target', 'issuer', 'audience', 'issuedAt', 'expiresAt', 'nonce'].every(isString) ||
    limits === null || typeof limits !== 'object' ||
    !(Number.isInteger(limits.timeoutMs) && (limits.timeoutMs as number) > 0) || !(Number.isInteger(limits.maxRows) && (limits.maxRows as number) > 0)
  ) {
    throw new QueryRefused('malformed', 'envelope lacks a field or has one of the wrong type');
  }
  if (Buffer.from(e.nonce as string, 'base64').length < 16) throw new QueryRefused('malformed', 'nonce is shorter than 128 bits');
  if ((limits.timeoutMs as number) > MAX_QUERY_TIMEOUT_MS || (limits.maxRows as number) > MAX_QUERY_ROWS) {
    throw new QueryRefused('malformed', `limits beyond what a host gives: at most ${MAX_QUERY_TIMEOUT_MS / 60_000} minutes and ${MAX_QUERY_ROWS.toLocaleString('en-US')} rows`);
  }
  if (e.queryId !== undefined && !(typeof e.queryId === 'string' && e.queryId.length > 0 && e.queryId.length <= 64)) {
    throw new QueryRefused('malformed', 'queryId must be a string of 1 to 64 characters');
  }
  const window = e.window as Record<string, unknown> | null | undefined;
  const bound = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v));
  if (window !== undefined && window !== null && (typeof window !== 'object' || !bound(window.fromUs) || !bound(window.toUs))) {
    throw new QueryRefused('malformed', 'window must hold fromUs and toUs, numbers or null');
  }
  const standing = e.standing === undefined ? null : standingProblem(e.standing);
  if (standing !== null) throw new QueryRefused('malformed', standing);
  return e as unknown as QueryEnvelope;
}

/** Whether `target` includes the host. */
export function targets(target: string, host: HostIdentity): boolean {
  if (target === 'all') return true;
  const colon = target.indexOf(':');
  if (colon < 0) return false;
  const kind = target.slice(0, colon);
  const value = target.slice(colon + 1);
  switch (kind) {
    case 'host':
      return value === host.id;
    case 'site':
      return value === host.site;
    case 'tag':
      return host.tags.includes(value);
    case 'net':
      return host.addresses.some((address) => inNetwork(address, value));
    default:
      return false;
  }
}

/** Whether `address` is in `cidr` (IPv4 or IPv6); false for anything unparsable. */
export function inNetwork(address: string, cidr: string): boolean {
  const network = parseCidr(cidr);
  const host = parseAddress(address);
  return network !== null && host !== null && network.ipVersion === host.ipVersion && samePrefix(network.words, host.words, network.bits);
}

/** Nonces of accepted envelopes, each kept until its envelope has expired; bounded in number. */
export class NonceCache {
  private readonly until = new Map<string, number>();

  constructor(private readonly maxEntries = 100_000) {}

  /** Remembers `nonce` until `untilMs`; false when it is already there. */
  add(nonce: string, untilMs: number, now: number): boolean {
    if (this.until.has(nonce)) return false;
    if (this.until.size >= this.maxEntries) this.expire(now);
    // Still full of live nonces: refusing new queries is safer than forgetting a nonce.
    if (this.until.size >= this.maxEntries) return false;
    this.until.set(nonce, untilMs);
    return true;
  }

  expire(now: number): void {
    for (const [nonce, until] of this.until) if (until < now) this.until.delete(nonce);
  }

  get size(): number {
    return this.until.size;
  }
}

/** JSON with object keys sorted at every level: one text per value, so one signature per envelope. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}
