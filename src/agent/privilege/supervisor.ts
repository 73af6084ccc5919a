/**
 * Privilege separation (issue 3): when the agent is started as root, this process keeps root only to
 * run the privileged helpers, and everything that touches packet bytes, the store or the network
 * runs in a worker process as an unprivileged user.
 *
 *   supervisor (root): starts the capture program and the socket events program (each opens what
 *     needs privileges, then switches to the worker's user) and conntrack, describes socket owners
 *     from /proc, relays signals; parses no packet
 *   worker (unprivileged, e.g. `endsight`): reads the capture program's pipe (passed as a file
 *     descriptor over the IPC channel), decodes, meters, writes the store, serves the health endpoint
 *
 * The worker asks for captures and attribution over the channel (messages.ts); the supervisor
 * relays the sampling rate to the capture program, forwards SIGTERM/SIGINT (stop) and SIGHUP (reload, with the
 * configuration it has read and validated itself, so the worker never needs to read root's files),
 * and exits with the worker's exit code. If the supervisor dies, the worker sees the channel close,
 * stores every active flow and exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { startLocalAttribution, type AttributionFeed } from '../attribution/attribution-feed.js';
import { CaptureProgram } from '../capture/capture-program.js';
import type { AgentConfig } from '../agent-config.js';
import type { SupervisorMessage, WorkerMessage } from './messages.js';

export interface WorkerUser {
  name: string;
  uid: number;
  gid: number;
}

/** The environment variable that carries the resolved configuration to the worker, as JSON. */
export const WORKER_CONFIG_ENV = 'ENDSIGHT_AGENT_WORKER_CONFIG';

export async function runSupervisor(options: {
  config: AgentConfig;
  user: WorkerUser;
  /** bin/endsight.js and the arguments that start the worker (`agent --worker …`). */
  workerArgv: string[];
  /** Reads and validates the configuration again (SIGHUP); throws ConfigError. */
  reload: () => AgentConfig;
  log: Logger;
}): Promise<number> {
  const { config, user, log } = options;
  await prepareDataDir(config.dataDir, user);
  // libuv clears the supplementary groups when it changes the uid, and the kernel drops every
  // capability with it. HOME points to the store: root's home is not the worker's to write in.
  const worker = spawn(process.execPath, options.workerArgv, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
    uid: user.uid,
    gid: user.gid,
    env: { ...process.env, [WORKER_CONFIG_ENV]: JSON.stringify(config), HOME: config.dataDir },
  });
  const send = (message: SupervisorMessage, handle?: Parameters<ChildProcess['send']>[1]): void => {
    if (worker.connected) worker.send(message, handle as never);
  };
  const captures = new Map<number, CaptureProgram>();
  const helpers: { attribution: AttributionFeed | null } = { attribution: null };

  worker.on('message', (message: WorkerMessage) => {
    void handle(message).catch((error: Error) => log.error({ err: error.message, op: message.op }, 'supervisor: request failed'));
  });
  async function handle(message: WorkerMessage): Promise<void> {
    switch (message.op) {
      case 'capture-start': {
        let program: CaptureProgram;
        try {
          program = await CaptureProgram.start(message.options, user.name);
        } catch (error) {
          send({ op: 'capture-failed', id: message.id, reason: (error as Error).message });
          return;
        }
        captures.set(message.id, program);
        void program.exited.then(() => {
          captures.delete(message.id);
          send({ op: 'capture-exited', id: message.id, failure: program.failure });
        });
        // The pipe moves to the worker (the supervisor keeps no copy).
        send({ op: 'capture', id: message.id }, program.stdout as Socket);
        return;
      }
      case 'capture-sampling':
        captures.get(message.id)?.setSampling(message.sampling);
        return;
      case 'capture-stop':
        await captures.get(message.id)?.stop();
        return;
      case 'attribution-start':
        try {
          const feed = await startLocalAttribution({
            onOwner: (event, owner) => send({ op: 'owner', event, owner }),
            onNat: (mapping) => send({ op: 'nat', mapping }),
          }, user.name);
          helpers.attribution = feed;
          send({ op: 'attribution-started', natUnavailable: feed.natUnavailable });
          void feed.exited.then(() => send({ op: 'attribution-exited' }));
        } catch (error) {
          send({ op: 'attribution-unavailable', reason: (error as Error).message });
        }
        return;
    }
  }

  let killTimer: NodeJS.Timeout | null = null;
  const onStop = (): void => {
    send({ op: 'stop' });
    // A worker that does not finish storing within a minute is stuck: end it.
    killTimer ??= setTimeout(() => worker.kill('SIGKILL'), 60_000).unref();
  };
  const onReload = (): void => {
    try {
      send({ op: 'reload', config: options.reload() });
    } catch (error) {
      log.error({ err: (error as Error).message }, 'configuration not reloaded: it has problems; the running one stays');
    }
  };
  process.on('SIGTERM', onStop).on('SIGINT', onStop).on('SIGHUP', onReload);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 128 : 1)));
    });
    return code;
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.off('SIGTERM', onStop).off('SIGINT', onStop).off('SIGHUP', onReload);
    for (const capture of captures.values()) capture.kill();
    await helpers.attribution?.stop();
  }
}

/**
 * The worker's user: `name` if given (it must exist), else `endsight` if it exists, else `nobody`
 * (from /etc/passwd).
 */
export function findWorkerUser(name: string | null): WorkerUser {
  const users = new Map<string, WorkerUser>();
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user && /^\d+$/.test(uid ?? '') && /^\d+$/.test(gid ?? '')) users.set(user, { name: user, uid: Number(uid), gid: Number(gid) });
  }
  const found = name !== null ? users.get(name) : (users.get('endsight') ?? users.get('nobody'));
  if (!found) {
    throw new RangeError(
      name !== null
        ? `Cannot run the meter as user "${name}": no such user in /etc/passwd (create it: useradd --system ${name})`
        : 'Cannot find a user to run the meter as: neither "endsight" nor "nobody" exists (useradd --system endsight)',
    );
  }
  return found;
}

/** Creates the data directory and hands it (and what is in it) to the worker's user. */
async function prepareDataDir(dataDir: string, user: WorkerUser): Promise<void> {
  await fs.mkdir(dataDir, { recursive: true });
  // Every directory above it must let the worker through (search permission for others, or its own).
  for (let dir = path.dirname(path.resolve(dataDir)); ; dir = path.dirname(dir)) {
    const stat = await fs.stat(dir);
    const searchable = (stat.mode & 0o001) !== 0 || (stat.uid === user.uid && (stat.mode & 0o100) !== 0) || (stat.gid === user.gid && (stat.mode & 0o010) !== 0);
    if (!searchable) {
      throw new RangeError(
        `Cannot give the store at "${dataDir}" to the unprivileged user ${user.name}: it cannot enter ${dir} (mode ${(stat.mode & 0o777).toString(8)}); ` +
          `choose another --data-dir, or allow it (chmod o+x ${dir})`,
      );
    }
    if (dir === path.dirname(dir)) break;
  }
  const walk = async (p: string): Promise<void> => {
    await fs.lchown(p, user.uid, user.gid);
    const stat = await fs.lstat(p);
    if (!stat.isDirectory()) return;
    for (const entry of await fs.readdir(p)) await walk(path.join(p, entry));
  };
  await walk(dataDir);
}
