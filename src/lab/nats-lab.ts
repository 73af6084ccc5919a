/**
 * Real nats-server processes for tests and benchmarks: one server or a cluster on loopback, with TLS
 * certificates made here by openssl (a CA, and one certificate for 127.0.0.1 used by the servers for
 * clients and routes) and endsight's per-role credentials (fleet/nats-server-config.ts).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freeTcpPort } from '../common/free-port.js';
import { natsOptions } from '../fleet/fleet-member.js';
import { natsServerConfig, ROLES, type Role } from '../fleet/nats-server-config.js';
import { runCommand, type BackgroundProcess, type Lab, type Netns } from './netns.js';

export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
}

/** A CA and a server certificate for IP 127.0.0.1 (serverAuth and clientAuth: routes use it both ways). */
export async function makeCertificates(dir: string): Promise<TestCertificates> {
  await fs.mkdir(dir, { recursive: true });
  const f = (name: string): string => path.join(dir, name);
  await runCommand(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=endsight test CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await runCommand(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1',
    '-keyout', f('server.key'), '-out', f('server.csr')]);
  await fs.writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
  await runCommand(['openssl', 'x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-days', '2', '-extfile', f('ext.cnf'), '-out', f('server.pem')]);
  return { caFile: f('ca.pem'), certFile: f('server.pem'), keyFile: f('server.key'), caPem: await fs.readFile(f('ca.pem'), 'utf8') };
}

export interface NatsLab {
  servers: BackgroundProcess[];
  /** Client URL of each server, without credentials. */
  urls: string[];
  passwords: Record<Role, string>;
  certificates: TestCertificates | null;
  /** Each server's HTTP monitoring address (http://127.0.0.1:PORT), when started with monitor. */
  monitorUrls: string[];
  /** nats:// URLs of every server with `role`'s credentials, comma-separated (for natsOptions). */
  serversFor(role: Role): string;
}

/** Starts `count` nats-servers for fleet `fleet` (a cluster when count > 1) and waits until they are ready. */
export async function startNats(
  lab: Lab,
  dir: string,
  /** netns: run the servers in this network namespace (on its loopback) instead of the host's. */
  options: { fleet: string; count?: number; tls?: boolean; monitor?: boolean; agentRepliesPerRequest?: number; netns?: Netns },
): Promise<NatsLab> {
  const count = options.count ?? 1;
  await fs.mkdir(dir, { recursive: true });
  const certificates = options.tls === false ? null : await makeCertificates(path.join(dir, 'certs'));
  const passwords = Object.fromEntries(ROLES.map((role) => [role, randomBytes(12).toString('hex')])) as Record<Role, string>;
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  const monitorPorts: number[] = [];
  for (let i = 0; i < count; i++) {
    clientPorts.push(await freeTcpPort());
    routePorts.push(await freeTcpPort());
    if (options.monitor) monitorPorts.push(await freeTcpPort());
  }
  const routePassword = randomBytes(12).toString('hex');
  const servers: BackgroundProcess[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `nats-${i}.conf`);
    const config = natsServerConfig({
      fleet: options.fleet,
      listen: `127.0.0.1:${clientPorts[i]}`,
      serverName: `n${i}`,
      tls: certificates,
      passwords,
      monitorPort: options.monitor ? monitorPorts[i] : undefined,
      agentRepliesPerRequest: options.agentRepliesPerRequest,
      cluster:
        count > 1
          ? {
              name: 'endsight-test',
              listen: `127.0.0.1:${routePorts[i]}`,
              routes: routePorts.filter((_, j) => j !== i).map((port) => `nats-route://route:${routePassword}@127.0.0.1:${port}`),
              user: 'route',
              password: routePassword,
            }
          : undefined,
    });
    await fs.writeFile(file, config, { mode: 0o600 });
    const command = ['nats-server', '-c', file];
    servers.push(lab.start(`nats-server n${i}`, options.netns ? options.netns.exec(command) : command));
  }
  for (const server of servers) await server.waitForOutput(/Server is ready/, 15_000);
  // A cluster is ready for queries once every server has a route to every other one.
  if (count > 1) {
    for (const server of servers) {
      const deadline = Date.now() + 15_000;
      while ((server.stderr.match(/Route connection created/g) ?? []).length < count - 1) {
        if (Date.now() > deadline) throw new Error(`nats cluster: ${server.name} did not connect its routes: ${server.stderr.slice(-800)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
  const urls = clientPorts.map((port) => `nats://127.0.0.1:${port}`);
  return {
    servers,
    urls,
    passwords,
    certificates,
    monitorUrls: monitorPorts.map((port) => `http://127.0.0.1:${port}`),
    serversFor: (role) => clientPorts.map((port) => `nats://${role}:${passwords[role]}@127.0.0.1:${port}`).join(','),
  };
}

/** A role's connection to the lab's servers (`order`: which, first one preferred), trusting the lab's CA. */
export function connectAs(nats: NatsLab, role: Role, order: number[] = [0], extra: Record<string, unknown> = {}): Promise<NatsConnection> {
  const servers = order.map((i) => nats.urls[i].replace('nats://', `nats://${role}:${nats.passwords[role]}@`)).join(',');
  const tls = nats.certificates ? { ca: nats.certificates.caPem, cert: null, key: null } : null;
  return connect({ ...natsOptions({ nats: servers, tls }, `test ${role}`), noRandomize: true, reconnectTimeWait: 300, maxReconnectAttempts: -1, ...extra });
}
