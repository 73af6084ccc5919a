/**
 * A privacy policy as the authority signs it, to be distributed to hosts (by file or over the fleet's
 * NATS, docs/privacy.md). Signed like a query envelope (signed-query.ts): canonical JSON, Ed25519
 * (RFC 8032) over its UTF-8 bytes; on the wire `{"policy": "<canonical JSON>", "signature": "<base64>"}`.
 *
 * A policy has no expiry (a host keeps applying it), so what stops an old one from being replayed is
 * its version: a host accepts only a higher version than the one it applies. The audience names the
 * fleet, so a policy for one fleet is refused by another's hosts.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../fleet/signed-query.js';
import { parsePolicyDocument, PolicyError, type PolicyDocument } from './privacy-policy.js';

export const POLICY_KIND = 'endsight-privacy-policy';
/** Larger policies are refused before parsing. */
export const MAX_POLICY_BYTES = 256 * 1024;

/** What is signed: the document as written (snake_case keys, as the YAML has them) and who for. */
interface PolicyEnvelope {
  kind: typeof POLICY_KIND;
  audience: string;
  issuer: string;
  issuedAt: string;
  document: unknown;
}

export interface SignedPolicy {
  policy: string;
  signature: string;
}

/** A verified policy: the checked document, and where it came from. */
export interface AcceptedPolicy {
  document: PolicyDocument;
  issuer: string;
  issuedAt: string;
  /** The signed form, to keep and to pass on. */
  signed: SignedPolicy;
}

/** Signs `document` (the YAML's value, checked first: a bad policy is never signed). */
export function signPolicy(privateKey: KeyObject, document: unknown, fields: { audience: string; issuer: string }, now = Date.now()): SignedPolicy {
  parsePolicyDocument(document, 'policy');
  const envelope: PolicyEnvelope = { kind: POLICY_KIND, audience: fields.audience, issuer: fields.issuer, issuedAt: new Date(now).toISOString(), document };
  const text = canonicalJson(envelope);
  return { policy: text, signature: sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64') };
}

/** Checks a signed policy (bytes from a file or the wire); throws PolicyError with the reason. */
export function verifySignedPolicy(message: Uint8Array | string, authority: KeyObject, audience: string): AcceptedPolicy {
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : Buffer.from(message);
  if (bytes.length > MAX_POLICY_BYTES) throw new PolicyError([`signed policy of ${bytes.length} bytes is over the ${MAX_POLICY_BYTES}-byte limit`]);
  let outer: unknown;
  try {
    outer = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new PolicyError(['signed policy is not JSON (sign a policy with endsight policy sign)']);
  }
  const signed = outer as Partial<SignedPolicy> | null;
  if (signed === null || typeof signed !== 'object' || typeof signed.policy !== 'string' || typeof signed.signature !== 'string') {
    throw new PolicyError(['signed policy lacks "policy" and "signature" (sign a policy with endsight policy sign)']);
  }
  const signature = Buffer.from(signed.signature, 'base64');
  if (signature.length !== 64 || !verify(null, Buffer.from(signed.policy, 'utf8'), authority, signature)) {
    throw new PolicyError(["the signature is not the authority's over this policy"]);
  }
  let envelope: Partial<PolicyEnvelope>;
  try {
    envelope = JSON.parse(signed.policy) as Partial<PolicyEnvelope>;
  } catch {
    throw new PolicyError(['signed policy text is not JSON']);
  }
  if (envelope === null || typeof envelope !== 'object' || envelope.kind !== POLICY_KIND || typeof envelope.audience !== 'string' || typeof envelope.issuer !== 'string' || typeof envelope.issuedAt !== 'string') {
    throw new PolicyError([`signed text is not a privacy policy (kind ${JSON.stringify(envelope?.kind)})`]);
  }
  if (envelope.audience !== audience) throw new PolicyError([`policy is for fleet "${envelope.audience}", this host is in "${audience}"`]);
  return { document: parsePolicyDocument(envelope.document, 'signed policy'), issuer: envelope.issuer, issuedAt: envelope.issuedAt, signed: { policy: signed.policy, signature: signed.signature } };
}
