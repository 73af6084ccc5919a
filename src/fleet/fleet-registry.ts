/**
 * Who is on the fleet, from heartbeats: hosts announce themselves on endsight.F.hb.SITE.ID, site
 * aggregators on endsight.F.shb.SITE (with the hosts of their site they hear). A registry listens
 * for as long as it lives; a host or site counts as present while its last heartbeat is recent.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { HEARTBEAT_INTERVAL_MS, heartbeatWildcard, parseJson, siteHeartbeatWildcard } from './fleet-subjects.js';
import type { HeardHeartbeat } from './hosts-table.js';
import type { HostIdentity } from './signed-query.js';

/** What a host announces every HEARTBEAT_INTERVAL_MS; the coordinator's registry and the `hosts` table. */
export interface Heartbeat extends HostIdentity {
  version: string;
  /** The host's clock when sent, ms since the epoch (the coordinator derives the clock offset). */
  sentAt: number;
  /** The version of the privacy policy the host applies (0: none), when it has a policy guard. */
  policyVersion?: number;
  /** The agent's health figures (its /metrics in brief), when the host is an agent. */
  health?: HostHealth;
}

/** What an agent's heartbeat says of its health: the console's fleet page and the `hosts` table. */
export interface HostHealth {
  /** Packets that reached the meter, and those the kernel dropped (libpcap's ps_drop), since the agent started. */
  packets: number;
  dropped: number;
  flowsActive: number;
  recordsStored: number;
  storeBytes: number;
  /** CPU over the last second, as a share of one core; resident memory. */
  cpu: number;
  rssBytes: number;
  /** Finished TCP/UDP flows attributed to a process, as a share (null before the first). */
  attributedRatio: number | null;
  /** 1-in-N packet sampling in force. */
  sampling: number;
}

/** What a site aggregator announces: its site and the hosts of the site it hears. */
export interface SiteHeartbeat {
  site: string;
  aggregator: string;
  hosts: string[];
  version: string;
  sentAt: number;
}

export interface HeardSite extends SiteHeartbeat {
  receivedAt: number;
}

/** A heartbeat's shape, checked: it comes from the wire (only agents may publish them, but bugs happen). */
export function isHeartbeat(value: unknown): value is Heartbeat {
  const b = value as Partial<Heartbeat> | null;
  return (
    b !== null && typeof b === 'object' && typeof b.id === 'string' && (b.site === null || typeof b.site === 'string') &&
    strings(b.tags) && strings(b.addresses) && typeof b.version === 'string' && typeof b.sentAt === 'number' && Number.isFinite(b.sentAt)
  );
}

export function isSiteHeartbeat(value: unknown): value is SiteHeartbeat {
  const b = value as Partial<SiteHeartbeat> | null;
  return (
    b !== null && typeof b === 'object' && typeof b.site === 'string' && typeof b.aggregator === 'string' && strings(b.hosts) &&
    typeof b.version === 'string' && typeof b.sentAt === 'number' && Number.isFinite(b.sentAt)
  );
}

function strings(list: unknown): boolean {
  return Array.isArray(list) && list.every((item) => typeof item === 'string');
}

export interface RegistryOptions {
  /** Listen to host heartbeats (default true). */
  hosts?: boolean;
  /** Listen to site aggregators' heartbeats (default true). */
  sites?: boolean;
  /** Only hosts of this site (a site aggregator's registry). */
  site?: string;
  /** How long a heartbeat keeps its sender present (default two and a half heartbeat intervals). */
  presentForMs?: number;
}

export class FleetRegistry {
  private readonly heardHosts = new Map<string, HeardHeartbeat>();
  private readonly heardSites = new Map<string, Map<string, SiteHeartbeat & { receivedAt: number }>>();
  private readonly subscriptions: Subscription[] = [];
  private readonly presentForMs: number;

  constructor(connection: NatsConnection, fleet: string, options: RegistryOptions = {}) {
    this.presentForMs = options.presentForMs ?? HEARTBEAT_INTERVAL_MS * 2.5;
    if (options.hosts !== false) {
      this.subscriptions.push(
        connection.subscribe(heartbeatWildcard(fleet, options.site), {
          callback: (error, msg) => {
            const beat = error ? null : parseJson(msg);
            if (!isHeartbeat(beat) || (options.site !== undefined && beat.site !== options.site)) return;
            this.heardHosts.set(beat.id, { ...beat, receivedAt: Date.now() });
          },
        }),
      );
    }
    if (options.sites !== false) {
      this.subscriptions.push(
        connection.subscribe(siteHeartbeatWildcard(fleet), {
          callback: (error, msg) => {
            const beat = error ? null : parseJson(msg);
            if (!isSiteHeartbeat(beat)) return;
            let site = this.heardSites.get(beat.site);
            if (!site) this.heardSites.set(beat.site, (site = new Map()));
            site.set(beat.aggregator, { ...beat, receivedAt: Date.now() });
          },
        }),
      );
    }
  }

  /** Hosts heard lately. Hosts silent for ten times that long are forgotten (heartbeats come from the wire). */
  hosts(now = Date.now()): HeardHeartbeat[] {
    const out: HeardHeartbeat[] = [];
    for (const [id, host] of this.heardHosts) {
      if (now - host.receivedAt <= this.presentForMs) out.push(host);
      else if (now - host.receivedAt > this.presentForMs * 10) this.heardHosts.delete(id);
    }
    return out;
  }

  /** Sites whose aggregators were heard lately, each with the hosts their latest heartbeats named. */
  sites(now = Date.now()): HeardSite[] {
    const sites: HeardSite[] = [];
    for (const aggregators of this.heardSites.values()) {
      const live = [...aggregators.values()].filter((beat) => now - beat.receivedAt <= this.presentForMs).sort((a, b) => b.receivedAt - a.receivedAt);
      const hosts = [...new Set(live.flatMap((beat) => beat.hosts))].sort();
      if (live.length > 0) sites.push({ ...live[0], hosts });
    }
    return sites.sort((a, b) => (a.site < b.site ? -1 : 1));
  }

  stop(): void {
    for (const s of this.subscriptions) s.unsubscribe();
  }
}
