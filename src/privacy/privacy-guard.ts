/**
 * A host's privacy policy while the agent runs: the one it applies, where it came from, and the
 * filter that enforces it. A policy arrives from the configuration (a signed file) or over the fleet
 * (endsight policy push); the highest version wins and is kept in the data directory, so that the
 * host applies it again after a restart, before its first record.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { FlowRecordBatch } from '../flow/flow-record-batch.js';
import { canonicalJson, type HostIdentity } from '../fleet/signed-query.js';
import { writeFileAtomic } from '../store/fsync.js';
import { OPEN_POLICY, policyFor, type HostPolicy } from './privacy-policy.js';
import { RecordFilter } from './record-filter.js';
import { verifySignedPolicy, type AcceptedPolicy } from './signed-policy.js';

/** The accepted policy in the data directory. */
export const KEPT_POLICY_FILE = 'privacy-policy.json';

export interface GuardOptions {
  /** The authority's public key: only policies it signed are applied. Null: none can be (no authority configured). */
  authority: KeyObject | null;
  /** The fleet's name (the policy's audience); `endsight` for a host outside a fleet. */
  audience: string;
  /** Which `hosts` section applies: read when a policy is applied. */
  identity: () => HostIdentity;
  /** Pseudonymisation key (privacy.key_file); null: pseudonymised fields are removed. */
  key: Buffer | null;
  dataDir: string;
  log: Logger;
}

/** What the health endpoint and heartbeats report. */
export interface PolicyStatus {
  version: number;
  section: string;
  issuer: string | null;
  dropped: number;
  minGroupSize: number;
}

/** What a host answers to a policy pushed to it. */
export type PolicyOutcome = { ok: true; version: number; applied: boolean; section: string } | { ok: false; version: number; error: string };

export class PrivacyGuard {
  private accepted: AcceptedPolicy | null = null;
  private section = 'none';
  private recordFilter = new RecordFilter(OPEN_POLICY, null);
  private droppedBefore = 0;

  private constructor(private readonly options: GuardOptions) {}

  /** The guard with the best policy at hand: the kept one or the configured file's, whichever is newer. */
  static async open(options: GuardOptions, configured: string | null): Promise<PrivacyGuard> {
    const guard = new PrivacyGuard(options);
    const kept = await fs.readFile(path.join(options.dataDir, KEPT_POLICY_FILE), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (kept !== null) {
      // Never run with less than the host last applied: a kept policy that no longer verifies (the
      // authority changed, the file was damaged) stops the start until someone decides.
      const outcome = await guard.offer(kept, 'the kept policy');
      if (!outcome.ok) throw new RangeError(`${path.join(options.dataDir, KEPT_POLICY_FILE)}: ${outcome.error}; it is the privacy policy this host applied last: remove it to start without it`);
    }
    if (configured !== null) {
      const outcome = await guard.offer(configured, 'privacy.policy');
      // Older than the kept one is fine (a newer one was pushed since); anything else is a configuration error.
      if (!outcome.ok && !outcome.error.includes('older than')) throw new RangeError(`privacy.policy: ${outcome.error}`);
    }
    return guard;
  }

  /** The policy the host applies now. */
  get policy(): HostPolicy {
    return this.recordFilter.policy;
  }

  status(): PolicyStatus {
    return {
      version: this.accepted?.document.version ?? 0,
      section: this.section,
      issuer: this.accepted?.issuer ?? null,
      dropped: this.droppedBefore + this.recordFilter.counters.dropped,
      minGroupSize: this.policy.minGroupSize,
    };
  }

  /** The records the policy lets through, transformed. */
  apply(batch: FlowRecordBatch): FlowRecordBatch {
    return this.recordFilter.apply(batch);
  }

  /** Checks a signed policy and applies it when it is newer than the current one; never throws. */
  async offer(message: Uint8Array | string, origin: string): Promise<PolicyOutcome> {
    const version = this.accepted?.document.version ?? 0;
    if (this.options.authority === null) return { ok: false, version, error: 'no authority key is configured (fleet.authority or privacy.authority), so no policy can be verified' };
    let accepted: AcceptedPolicy;
    try {
      accepted = verifySignedPolicy(message, this.options.authority, this.options.audience);
    } catch (error) {
      this.options.log.warn({ audit: 'privacy policy refused', origin, reason: (error as Error).message }, 'privacy policy refused');
      return { ok: false, version, error: (error as Error).message };
    }
    const offered = accepted.document.version;
    // The same policy again (pushed twice, or signed again unchanged): nothing to do.
    if (offered === version && canonicalJson(this.accepted!.document) === canonicalJson(accepted.document)) return { ok: true, version, applied: false, section: this.section };
    if (offered <= version) {
      const error = offered === version ? `version ${offered} is already applied, with other content: a new policy needs a higher version` : `version ${offered} is older than the applied version ${version}`;
      this.options.log.warn({ audit: 'privacy policy refused', origin, offered, applied: version }, `privacy policy refused: ${error}`);
      return { ok: false, version, error };
    }
    const { policy, section } = policyFor(accepted.document, this.options.identity());
    // Kept before it is applied: a crash in between applies it at the next start, never the older one.
    await this.keep(accepted);
    this.droppedBefore += this.recordFilter.counters.dropped;
    this.recordFilter = new RecordFilter(policy, this.options.key);
    this.accepted = accepted;
    this.section = section;
    this.options.log.info({ audit: 'privacy policy applied', origin, version: offered, section, issuer: accepted.issuer }, `privacy policy version ${offered} applied (${section})`);
    if (!this.options.key && policy.pseudonymise.length > 0) {
      this.options.log.warn({ fields: policy.pseudonymise }, 'no privacy.key_file: the fields the policy pseudonymises are removed instead');
    }
    return { ok: true, version: offered, applied: true, section };
  }

  private async keep(accepted: AcceptedPolicy): Promise<void> {
    const file = path.join(this.options.dataDir, KEPT_POLICY_FILE);
    await writeFileAtomic(`${file}.${randomBytes(4).toString('hex')}.tmp`, file, JSON.stringify(accepted.signed) + '\n', 0o600);
  }
}
