/**
 * The agent as a member of the fleet (`endsight agent --nats URL --authority FILE`): one NATS
 * connection, kept up for the agent's life (it retries while the broker is away), over which the
 * agent answers signed queries from its own store and sends heartbeats.
 */
import os from 'node:os';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { FleetConfig } from '../agent/agent-config.js';
import { FleetHost } from './nats-fleet.js';
import { QueryResponder } from './query-responder.js';
import { loadKey, type HostIdentity } from './signed-query.js';
import type { PrivacyGuard } from '../privacy/privacy-guard.js';
import type { HostHealth } from './fleet-registry.js';

const RETRY_MS = 5000;

export interface FleetMember {
  readonly responder: QueryResponder;
  stop(): Promise<void>;
}

/**
 * NATS connection options from the fleet settings: servers comma-separated, the role's credential in
 * the URLs (nats://user:password@host:port; the NATS client takes it as options, not in the URL), TLS
 * from PEM texts.
 */
export function natsOptions(fleet: Pick<FleetConfig, 'nats' | 'tls'>, name: string): Parameters<typeof connect>[0] {
  const tls = fleet.tls;
  let user: string | undefined;
  let pass: string | undefined;
  const servers = fleet.nats.split(',').map((text) => {
    const server = text.trim();
    const match = /^([a-z]+:\/\/)?([^@/]*)@(.*)$/i.exec(server);
    if (!match) return server;
    const [name, password] = match[2].split(':');
    user = decodeURIComponent(name);
    pass = password === undefined ? undefined : decodeURIComponent(password);
    return `${match[1] ?? ''}${match[3]}`;
  });
  return {
    servers,
    ...(user !== undefined ? { user, ...(pass !== undefined ? { pass } : {}) } : {}),
    name,
    ...(tls ? { tls: { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}) } } : {}),
  };
}

/** The host as fleet targets see it; its addresses read at each use: they come and go (DHCP, VPN). */
export function fleetIdentity(fleet: Pick<FleetConfig, 'id' | 'site' | 'tags'>): HostIdentity {
  return {
    id: fleet.id,
    site: fleet.site,
    tags: fleet.tags,
    get addresses() {
      return Object.values(os.networkInterfaces()).flatMap((list) => (list ?? []).map((a) => a.address.replace(/%.*$/, '')));
    },
  };
}

export async function startFleetMember(
  fleet: FleetConfig,
  dataDir: string,
  version: string,
  log: Logger,
  standingDelayMs = 0,
  /** The host's privacy policy: its minimum group size holds for answers, and pushed policies are offered to it. */
  privacy: PrivacyGuard | null = null,
  /** The agent's health for its heartbeats. */
  health: (() => HostHealth) | null = null,
): Promise<FleetMember> {
  const authority = loadKey(fleet.authorityPem, 'public', 'fleet.authority');
  const identity = fleetIdentity(fleet);
  const responder = new QueryResponder({
    identity, audience: fleet.name, authority, dataDir, log: log.child({ part: 'fleet' }), standingDelayMs,
    ...(privacy ? { minGroupSize: () => privacy.policy.minGroupSize } : {}),
  });
  let connection: NatsConnection | null = null;
  let host: FleetHost | null = null;
  let stopped = false;
  // Our own retry until the first connection (a broker that is not up yet); then NATS reconnects by itself.
  let retry: NodeJS.Timeout | null = null;
  const attempt = async (): Promise<void> => {
    try {
      const c = await connect({ ...natsOptions(fleet, `endsight-agent ${fleet.id}`), maxReconnectAttempts: -1, reconnectTimeWait: 2000 });
      if (stopped) {
        await c.close();
        return;
      }
      connection = c;
      host = new FleetHost(c, fleet.name, identity, version, responder, undefined, { privacy, health });
      log.info({ nats: c.getServer(), fleet: fleet.name, id: fleet.id }, 'fleet: answering signed queries over NATS');
      void (async () => {
        for await (const status of c.status()) {
          if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') log.warn({ status: status.type }, `fleet: NATS ${status.type}`);
        }
      })();
    } catch (error) {
      if (stopped) return;
      log.error({ err: (error as Error).message, retryInMs: RETRY_MS }, 'fleet: cannot connect to NATS; fleet queries stay unanswered until it works');
      retry = setTimeout(() => void attempt(), RETRY_MS);
    }
  };
  void attempt();
  return {
    responder,
    stop: async () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      host?.stop();
      await responder.close();
      await (connection as NatsConnection | null)?.drain().catch(() => undefined);
    },
  };
}
