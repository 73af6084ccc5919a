/**
 * A nats-server configuration for one endsight fleet (docs/fleet.md): TLS on client and cluster
 * connections, and one credential per role whose subject permissions are all that role needs:
 *
 *   coordinator  publishes queries (endsight.F.q.>, endsight.F.agg.>) and privacy policies (endsight.F.policy), hears heartbeats (hb, shb),
 *                standing query results (sr) and answers (its _INBOX.>)
 *   aggregator   serves the site aggregator subjects (endsight.F.agg.>): hears its site's heartbeats,
 *                asks its hosts (endsight.F.q.>), announces itself (shb) and replies to the coordinator
 *   agent        receives queries and privacy policies, publishes its heartbeat and standing query results (sr), and replies
 *                only to requests it got (allow_responses: one reply per request, to its reply subject)
 *
 * An agent's credential therefore cannot ask queries, listen to other hosts' answers or pose as the
 * coordinator; and a query that reaches a host by any route is still checked against the authority's
 * signature (signed-query.ts). Syntax: nats-server's configuration format (NATS docs, "Configuration",
 * "Authorization", "TLS", "Clustering").
 */
import { subjectToken } from './fleet-subjects.js';

export const ROLES = ['coordinator', 'aggregator', 'agent'] as const;
export type Role = (typeof ROLES)[number];

export interface NatsServerConfigOptions {
  fleet: string;
  /** Client listen address, HOST:PORT. */
  listen: string;
  serverName?: string;
  /** PEM files; null: no TLS (tests of the refusal only: a fleet always uses TLS). */
  tls: { certFile: string; keyFile: string; caFile: string } | null;
  /** Password of each role's user. */
  passwords: Record<Role, string>;
  /** A member of a cluster: its route listen address, the other members' route URLs, and the routes' credential. */
  cluster?: { name: string; listen: string; routes: string[]; user: string; password: string };
  /** HTTP monitoring port (nats-server -m), or none. */
  monitorPort?: number;
  /**
   * Replies one agent connection may send per request received (default 1: an agent answers once).
   * Only the fleet benchmark raises it: its processes carry thousands of virtual hosts on one
   * connection, each answering once.
   */
  agentRepliesPerRequest?: number;
}

/** Subject permissions of each role in fleet `fleet`. */
export function rolePermissions(fleet: string): Record<Role, { publish: string[]; subscribe: string[]; allowResponses: boolean }> {
  const f = `endsight.${subjectToken(fleet)}`;
  return {
    coordinator: { publish: [`${f}.q.>`, `${f}.agg.>`, `${f}.policy`], subscribe: [`${f}.hb.>`, `${f}.shb.>`, `${f}.sr.>`, '_INBOX.>'], allowResponses: false },
    aggregator: { publish: [`${f}.q.>`, `${f}.shb.>`], subscribe: [`${f}.hb.>`, `${f}.agg.>`, '_INBOX.>'], allowResponses: true },
    agent: { publish: [`${f}.hb.>`, `${f}.sr.>`], subscribe: [`${f}.q.>`, `${f}.policy`], allowResponses: true },
  };
}

export function natsServerConfig(options: NatsServerConfigOptions): string {
  const q = (text: string): string => JSON.stringify(text);
  const list = (items: string[]): string => `[${items.map(q).join(', ')}]`;
  const tlsBlock = (indent: string): string[] =>
    options.tls
      ? [
          `${indent}tls {`,
          `${indent}  cert_file: ${q(options.tls.certFile)}`,
          `${indent}  key_file: ${q(options.tls.keyFile)}`,
          `${indent}  ca_file: ${q(options.tls.caFile)}`,
          `${indent}  timeout: 3`,
          `${indent}}`,
        ]
      : [];
  const permissions = rolePermissions(options.fleet);
  const lines = [
    `# endsight fleet "${options.fleet}": written by endsight (docs/fleet.md)`,
    `listen: ${q(options.listen)}`,
    ...(options.serverName ? [`server_name: ${q(options.serverName)}`] : []),
    ...(options.monitorPort !== undefined ? [`http_port: ${options.monitorPort}`] : []),
    ...tlsBlock(''),
    'authorization {',
    '  users = [',
    ...ROLES.map((role) => {
      const p = permissions[role];
      const max = role === 'agent' ? (options.agentRepliesPerRequest ?? 1) : 1;
      const responses = p.allowResponses ? (max === 1 ? ', allow_responses: true' : `, allow_responses: { max: ${max} }`) : '';
      return `    { user: ${q(role)}, password: ${q(options.passwords[role])}, permissions: { publish: { allow: ${list(p.publish)} }, subscribe: { allow: ${list(p.subscribe)} }${responses} } }`;
    }),
    '  ]',
    '}',
  ];
  if (options.cluster) {
    const c = options.cluster;
    lines.push(
      'cluster {',
      `  name: ${q(c.name)}`,
      `  listen: ${q(c.listen)}`,
      ...tlsBlock('  '),
      `  authorization { user: ${q(c.user)}, password: ${q(c.password)} }`,
      `  routes: ${list(c.routes)}`,
      '}',
    );
  }
  return lines.join('\n') + '\n';
}
