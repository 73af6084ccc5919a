/**
 * Privilege separation (issue 3): started as root, the agent keeps root only in a small native
 * helper, and everything that touches packet bytes, the store or the network runs unprivileged, in
 * this very process once it has given root up:
 *
 *   `endsight agent` (root at first): reads and validates the configuration, prepares the store,
 *     mounts tracefs if needed, starts the privileged helper, then switches itself to the worker's
 *     user (setgroups, setgid, setuid: glibc applies them to every thread, and the kernel clears
 *     every capability with the switch from root); from then on it is the meter: it reads the
 *     capture program's output, decodes, meters, writes the store, serves the health endpoint
 *   endsight-privileged (root, native/endsight-privileged.c): on the meter's request starts the
 *     capture program and the socket events program (each opens what needs privileges, then switches
 *     to the worker's user) and conntrack, hands their output over as sockets, names the tun device
 *     of a process, and reads the configuration again on SIGHUP (config-check.ts, as root); parses
 *     no packet
 *
 * Before this version the privileged part was a second Node.js process (a supervisor with the
 * worker as its child); a Node.js process costs about 55 MB of resident memory, and the agent's
 * whole budget is 150 MB at 100,000 flows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfig, AgentOverrides } from '../agent-config.js';
import { tracefsProblem } from '../attribution/socket-events.js';
import { nativeProgramPath } from './spawner.js';
import { supervisedHelpers, type HelperChannel, type SupervisedHelpers } from './worker.js';

export interface WorkerUser {
  name: string;
  uid: number;
  gid: number;
}

/**
 * Starts the privileged helper and gives up root: returns the helpers through which this process,
 * now running as `user`, captures, attributes and reloads. `configFile` and `overrides`: how the
 * configuration was read, so that the helper reads it the same way on SIGHUP.
 */
export async function becomeUnprivileged(options: {
  config: AgentConfig;
  user: WorkerUser;
  configFile: string | null;
  overrides: AgentOverrides;
}): Promise<{ helpers: SupervisedHelpers; helper: ChildProcess }> {
  const { config, user } = options;
  await prepareDataDir(config.dataDir, user);
  const tracefs = tracefsProblem(); // mounted here, as root, where missing
  const program = nativeProgramPath('endsight-privileged');
  if (!existsSync(program)) throw new RangeError(`the privileged helper ${program} is not built: run npm run build (it needs gcc)`);
  const check = fileURLToPath(new URL('./config-check.js', import.meta.url));
  const how = Buffer.from(JSON.stringify({ file: options.configFile, overrides: options.overrides }), 'utf8').toString('hex');
  // Its own process group: a Ctrl-C is for the meter, which stops its captures in order.
  const helper = spawn(program, [user.name, '--', process.execPath, check, how], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
  await new Promise<void>((resolve, reject) => {
    helper.once('spawn', resolve);
    helper.once('error', reject);
  });
  // The store's files belong to the worker's user; DuckDB looks in HOME, and root's is not its to write in.
  process.env.HOME = config.dataDir;
  process.setgroups!([]);
  process.setgid!(user.gid);
  process.setuid!(user.uid);
  assertUnprivileged(user);
  return { helpers: supervisedHelpers(helper as unknown as HelperChannel, tracefs), helper };
}

/** Every thread of this process runs as `user`, with no capability: the switch must not leave one behind. */
function assertUnprivileged(user: WorkerUser): void {
  for (const task of readdirTasks()) {
    const status = readFileSync(`/proc/self/task/${task}/status`, 'utf8');
    const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1].split(/\s+/).map(Number) ?? [];
    const capEff = /^CapEff:\s+(\S+)$/m.exec(status)?.[1] ?? '';
    const capPrm = /^CapPrm:\s+(\S+)$/m.exec(status)?.[1] ?? '';
    if (uids.length !== 4 || uids.some((u) => u !== user.uid) || !/^0+$/.test(capEff) || !/^0+$/.test(capPrm)) {
      throw new Error(`giving up root failed: thread ${task} still has uids ${uids.join(' ')}, capabilities ${capEff}`);
    }
  }
}

function readdirTasks(): string[] {
  try {
    return readdirSync('/proc/self/task');
  } catch {
    return [];
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
export async function prepareDataDir(dataDir: string, user: WorkerUser): Promise<void> {
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
