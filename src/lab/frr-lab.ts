/**
 * Real FRR routers for tests: zebra and ospfd (Debian frr 8.4) in a network namespace of the lab,
 * each router with its own configuration, pid files and vty sockets in a directory of its own
 * (`-f CONF -i PIDFILE --vty_socket DIR -z DIR/zserv.api`: FRR's `-N` alone does not load a
 * per-namespace configuration), queried with `vtysh --vty_socket DIR`. The daemons drop to the
 * package's user frr, so the directory is frr's.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { runCommand, sleep, type BackgroundProcess, type Lab, type Netns } from './netns.js';

const FRR_DAEMONS = '/usr/lib/frr';

export interface FrrRouter {
  name: string;
  ns: Netns;
  dir: string;
  daemons: BackgroundProcess[];
  /** Runs vtysh commands against this router's daemons; their output. */
  vtysh(...commands: string[]): Promise<string>;
  /** A `… json` show command, parsed. */
  json<T = unknown>(command: string): Promise<T>;
}

/** Starts zebra and ospfd in `ns` with `ospfdConfig` (zebra gets an empty configuration). */
export async function startFrrRouter(lab: Lab, ns: Netns, name: string, dir: string, ospfdConfig: string): Promise<FrrRouter> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'zebra.conf'), `hostname ${name}\n`);
  await fs.writeFile(path.join(dir, 'ospfd.conf'), `hostname ${name}\n${ospfdConfig}`);
  await runCommand(['chown', '-R', 'frr:frr', dir]);
  const common = (daemon: string): string[] => [
    '-f', path.join(dir, `${daemon}.conf`), '-i', path.join(dir, `${daemon}.pid`), '--vty_socket', dir, '-z', path.join(dir, 'zserv.api'),
  ];
  const zebra = lab.start(`${name} zebra`, ns.exec([path.join(FRR_DAEMONS, 'zebra'), ...common('zebra')]));
  await waitForFile(path.join(dir, 'zserv.api'), zebra);
  const ospfd = lab.start(`${name} ospfd`, ns.exec([path.join(FRR_DAEMONS, 'ospfd'), ...common('ospfd')]));
  await waitForFile(path.join(dir, 'ospfd.vty'), ospfd);
  const vtysh = async (...commands: string[]): Promise<string> =>
    (await runCommand(['vtysh', '--vty_socket', dir, ...commands.flatMap((c) => ['-c', c])], { timeoutMs: 20_000 })).stdout;
  return {
    name, ns, dir, daemons: [zebra, ospfd], vtysh,
    json: async <T>(command: string): Promise<T> => JSON.parse(await vtysh(command)) as T,
  };
}

async function waitForFile(file: string, daemon: BackgroundProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fs.stat(file).catch(() => null))) {
    if (daemon.exitCode !== null) throw new Error(`${daemon.name} exited (${daemon.exitCode}): ${daemon.stderr.slice(-1500)}`);
    if (Date.now() > deadline) throw new Error(`${daemon.name} did not create ${file}: ${daemon.stderr.slice(-1500)}`);
    await sleep(100);
  }
}

/** Every ospfd writes its graceful-restart state here, whatever its namespace; tests remove it. */
export const FRR_GR_STATE_FILE = '/var/run/frr/ospfd-gr.json';
