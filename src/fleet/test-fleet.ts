/**
 * Test support (not exported): a plain nats-server on loopback and hosts answering signed queries
 * from their own stores in this process (FleetHost and QueryResponder), with the authority's
 * private key written to `dir` for the commands under test (`--sign-key`).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { freeTcpPort } from '../common/free-port.js';
import type { Lab } from '../lab/netns.js';
import { FleetHost } from './nats-fleet.js';
import { QueryResponder } from './query-responder.js';
import { generateAuthorityKeys, loadKey, type HostIdentity } from './signed-query.js';

export interface TestFleet {
  url: string;
  /** The authority's private key file. */
  signKey: string;
  stop(): Promise<void>;
}

export async function startTestFleet(lab: Lab, dir: string, fleet: string, hosts: readonly { identity: HostIdentity; dataDir: string }[]): Promise<TestFleet> {
  const keys = generateAuthorityKeys();
  const signKey = path.join(dir, 'authority.key');
  writeFileSync(signKey, keys.privateKeyPem, { mode: 0o600 });
  const port = await freeTcpPort();
  const url = `nats://127.0.0.1:${port}`;
  await lab.start('nats-server', ['nats-server', '-a', '127.0.0.1', '-p', String(port)]).waitForOutput(/Server is ready/);
  const log = pino({ level: 'silent' });
  const connections: NatsConnection[] = [];
  const fleetHosts: FleetHost[] = [];
  for (const { identity, dataDir } of hosts) {
    const connection = await connect({ servers: url, name: identity.id });
    connections.push(connection);
    const responder = new QueryResponder({ identity, audience: fleet, authority: loadKey(keys.publicKeyPem, 'public', 'pub'), dataDir, log });
    fleetHosts.push(new FleetHost(connection, fleet, identity, 'test', responder));
  }
  return {
    url,
    signKey,
    stop: async () => {
      for (const host of fleetHosts) host.stop();
      for (const c of connections) await c.close().catch(() => undefined);
    },
  };
}
