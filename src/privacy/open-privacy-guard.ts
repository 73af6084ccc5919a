/**
 * The privacy policy guard of an agent configuration (docs/privacy.md), for everything that writes
 * records into a host's store: the agent, and `endsight import` into the same store.
 */
import type { Logger } from 'pino';
import type { AgentConfig } from '../agent/agent-config.js';
import { fleetIdentity } from '../fleet/fleet-member.js';
import { loadKey } from '../fleet/signed-query.js';
import { PrivacyGuard } from './privacy-guard.js';

/**
 * The guard with the configured signed policy or the one kept in the store, verified with
 * privacy.authority or else fleet.authority. Always there, so that a policy pushed over the fleet
 * applies; without any key it can verify nothing and lets records through.
 */
export async function openPrivacyGuard(config: AgentConfig, dataDir: string, log: Logger): Promise<PrivacyGuard> {
  const pem = config.privacy.authorityPem ?? config.fleet?.authorityPem ?? null;
  const identity = fleetIdentity(config.fleet ?? { id: config.host, site: null, tags: [] });
  return PrivacyGuard.open(
    {
      authority: pem === null ? null : loadKey(pem, 'public', config.privacy.authorityPem !== null ? 'privacy.authority' : 'fleet.authority'),
      audience: config.fleet?.name ?? 'endsight',
      identity: () => identity,
      key: config.privacy.keyHex === null ? null : Buffer.from(config.privacy.keyHex, 'hex'),
      dataDir,
      log: log.child({ part: 'privacy' }),
    },
    config.privacy.policyText,
  );
}
