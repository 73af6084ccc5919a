/**
 * The fleet's NATS subjects and message encoding, for a fleet named F:
 *
 *   endsight.F.q.all, endsight.F.q.host.ID, endsight.F.q.site.NAME, endsight.F.q.tag.T   queries to hosts, by target
 *   endsight.F.q.net                                                                       net: targets (each host checks its addresses)
 *   endsight.F.hb.SITE.ID                                                                  host heartbeats: the registry of hosts (SITE _ for none)
 *   endsight.F.agg.all, endsight.F.agg.site.NAME                                           queries to site aggregators (a queue group per site)
 *   endsight.F.shb.NAME                                                                    site aggregators' heartbeats
 *   endsight.F.sr.ID                                                                       standing query ID's results, each period, from each host
 *   endsight.F.policy                                                                      signed privacy policies, to every host (docs/privacy.md)
 *
 * Answers go to the request's reply subject (an inbox of whoever asked). Every host checks the
 * signed envelope itself, so a query published on a subject it should not reach is still refused.
 */
import type { Msg, NatsConnection } from '@nats-io/transport-node';

export const HEARTBEAT_INTERVAL_MS = 2000;
/** NATS delivers at most once: a host (or site) that has not answered by then is asked again, this often. */
export const REASK_EVERY_MS = 2500;

/** A subject token: no dots, wildcards or spaces (NATS subject syntax). */
export function subjectToken(text: string): string {
  const token = text.replace(/[^A-Za-z0-9_\-:=@+]/g, '_');
  return token === '' ? '_' : token;
}

const base = (fleet: string): string => `endsight.${subjectToken(fleet)}`;

/** Where a query for `target` goes to reach the hosts directly. */
export function querySubject(fleet: string, target: string): string {
  const q = `${base(fleet)}.q`;
  if (target === 'all') return `${q}.all`;
  const [kind, ...rest] = target.split(':');
  const value = rest.join(':');
  if (kind === 'net') return `${q}.net`;
  if (!['host', 'site', 'tag'].includes(kind) || value === '') {
    throw new RangeError(`Unknown target "${target}": use all, host:ID, site:NAME, tag:T or net:CIDR`);
  }
  return `${q}.${kind}.${subjectToken(value)}`;
}

/**
 * Where a query for `target` goes to reach the site aggregators: site:NAME to that site's queue
 * group, anything else to every site's (each site's aggregator then asks the targeted hosts of its site).
 */
export function siteQuerySubject(fleet: string, target: string): string {
  return target.startsWith('site:') ? `${base(fleet)}.agg.site.${subjectToken(target.slice(5))}` : `${base(fleet)}.agg.all`;
}

/** The queue group of a site's aggregators: each query reaches one of them. */
export function siteQueueGroup(site: string): string {
  return `endsight-site-${subjectToken(site)}`;
}

/** A host's heartbeats, under its site: a site's aggregators hear their own site's hosts only. */
export function heartbeatSubject(fleet: string, site: string | null, id: string): string {
  return `${base(fleet)}.hb.${subjectToken(site ?? '')}.${subjectToken(id)}`;
}

/** Every host's heartbeats, or one site's. */
export function heartbeatWildcard(fleet: string, site?: string): string {
  return `${base(fleet)}.hb.${site === undefined ? '*' : subjectToken(site)}.*`;
}

export function siteHeartbeatSubject(fleet: string, site: string): string {
  return `${base(fleet)}.shb.${subjectToken(site)}`;
}

export function siteHeartbeatWildcard(fleet: string): string {
  return `${base(fleet)}.shb.*`;
}

/** Where hosts push standing query `id`'s results. */
export function standingSubject(fleet: string, id: string): string {
  return `${base(fleet)}.sr.${subjectToken(id)}`;
}

/** Where signed privacy policies go: every host hears them and answers what it applies. */
export function policySubject(fleet: string): string {
  return `${base(fleet)}.policy`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON bytes of a message; BigInt values as their digits. */
export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

/** A message's JSON, or null when it is not JSON (bytes from the wire). */
export function parseJson(msg: Msg): unknown {
  try {
    return JSON.parse(decoder.decode(msg.data));
  } catch {
    return null;
  }
}

/**
 * Sends (a publish or a reply) unless the connection is closing or closed: a message is then lost,
 * as on a connection that is down, and whoever waits for it asks again. Never throws, since it runs
 * from timers and callbacks: a send that fails anyway is returned for the caller to report.
 */
export function sendSafely(connection: NatsConnection, send: () => void): Error | null {
  if (connection.isClosed() || connection.isDraining()) return null;
  try {
    send();
    return null;
  } catch (error) {
    return error as Error;
  }
}
