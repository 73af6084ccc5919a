/**
 * Helpers for tests and benchmarks that need real programs talking over real interfaces: running
 * commands, starting background processes in their own process group, and creating network
 * namespaces joined by veth pairs. Everything created is registered with a {@link Lab} and removed
 * by {@link Lab.cleanup} (processes by their process group, namespaces by their name), also when a
 * step fails half-way. Needs root (namespaces, veth, packet capture).
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Output of a finished command. */
export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link runCommand}. */
export interface RunOptions {
  /** Kill the command's process group after this long. Default 60 s. */
  timeoutMs?: number;
  /** Resolve instead of rejecting when the exit code is not 0. */
  allowFailure?: boolean;
  /** Extra environment (merged over process.env). */
  env?: Record<string, string>;
  cwd?: string;
  /** Bytes written to stdin. */
  input?: string;
}

/** A command that failed: the message names the command, the exit status and the end of stderr. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
  ) {
    super(
      `Cannot run \`${argv.join(' ')}\`: exited with ${result.signal ?? result.code}: ` +
        `${tail(result.stderr || result.stdout, 1200)}`,
    );
  }
}

function tail(text: string, chars: number): string {
  const t = text.trim();
  return t.length <= chars ? t : `…${t.slice(t.length - chars)}`;
}

/** Runs `argv` (no shell) in its own process group and collects its output. */
export async function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  const child = spawn(file, args, {
    detached: true,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: options.env ? { ...process.env, ...options.env } : process.env,
    cwd: options.cwd,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (options.input !== undefined) child.stdin!.end(options.input);
  const timeoutMs = options.timeoutMs ?? 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid, 'SIGKILL');
  }, timeoutMs);
  try {
    const [code, signal] = (await onceExit(child)) as [number | null, NodeJS.Signals | null];
    const result: CommandResult = { code, signal, stdout, stderr };
    if (timedOut) result.stderr += `\n(killed after ${timeoutMs} ms)`;
    if ((code !== 0 || timedOut) && !options.allowFailure) throw new CommandError(argv, result);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

async function onceExit(child: ChildProcess): Promise<unknown[]> {
  // 'close' waits for stdio to drain as well as for the exit.
  const spawnError = once(child, 'error').then(([error]) => {
    throw error;
  });
  return Promise.race([once(child, 'close'), spawnError]);
}

/** Sends `signal` to the process group led by `pid` (processes started by this module lead their own group). */
export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/** A background process started by {@link Lab.start}. */
export class BackgroundProcess {
  stdout = '';
  stderr = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  hasExited = false;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly argv: readonly string[],
    readonly child: ChildProcess,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.stdout += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        this.hasExited = true;
        resolve();
      });
      child.on('error', (error) => {
        this.stderr += `\nspawn error: ${error.message}`;
        this.hasExited = true;
        resolve();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once `pattern` appears in stdout or stderr; rejects if the process exits first or on timeout. */
  async waitForOutput(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pattern.test(this.stdout) || pattern.test(this.stderr)) return;
      if (this.hasExited) {
        throw new Error(
          `${this.name} exited (${this.exitSignal ?? this.exitCode}) before printing ${pattern}: ${tail(this.stderr + this.stdout, 800)}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms: ${tail(this.stderr + this.stdout, 800)}`);
      }
      await sleep(20);
    }
  }

  /** Resolves when the process has exited; rejects after `timeoutMs`. */
  async waitForExit(timeoutMs = 30_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} still running after ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the process group, then SIGKILL after `graceMs` if it is still there. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3_000): Promise<void> {
    if (this.hasExited) return;
    killGroup(this.pid, signal);
    const timer = setTimeout(() => killGroup(this.pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Promise-based sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One network namespace created by {@link Lab.addNamespace}. */
export class Netns {
  constructor(readonly name: string) {}

  /** argv prefix that runs a command inside this namespace. */
  exec(argv: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.name, ...argv];
  }

  /**
   * Like exec, with the cgroup v2 hierarchy mounted at /sys/fs/cgroup as on the host: `ip netns exec`
   * mounts a fresh /sys (for the namespace's /sys/class/net) without the cgroup mounts, and a program
   * that maps cgroup ids to paths (the agent, for processes that have exited) needs them.
   */
  execWithCgroups(argv: readonly string[]): string[] {
    return this.exec(['sh', '-c', 'mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null; exec "$@"', 'sh', ...argv]);
  }
}

/**
 * Owns everything a test starts: namespaces and background processes. {@link cleanup} is safe to
 * call more than once and never throws; it kills processes by process group, then any process still
 * inside one of the lab's namespaces (by pid, from `ip netns pids`), then deletes the namespaces.
 */
export class Lab {
  readonly namespaces: Netns[] = [];
  readonly processes: BackgroundProcess[] = [];
  /** Unique prefix for names: `es-diff-<pid>-<counter>`. */
  readonly prefix: string;
  private static counter = 0;

  constructor(prefix = `es-diff-${process.pid}-${Lab.counter++}`) {
    this.prefix = prefix;
    liveLabs.add(this);
    installExitCleanup();
  }

  /** Creates namespace `<prefix>-<suffix>` with `lo` up, and registers it for cleanup. */
  async addNamespace(suffix: string, sysctls: Record<string, string> = {}): Promise<Netns> {
    const ns = new Netns(`${this.prefix}-${suffix}`);
    await runCommand(['ip', 'netns', 'add', ns.name]);
    this.namespaces.push(ns);
    await runCommand(ns.exec(['ip', 'link', 'set', 'lo', 'up']));
    for (const [key, value] of Object.entries(sysctls)) {
      await runCommand(ns.exec(['sysctl', '-q', '-w', `${key}=${value}`]));
    }
    return ns;
  }

  /**
   * Creates a veth pair with one end in each namespace (created there directly, so the names only
   * need to be unique inside the namespace), with hardware offloads off so that captures show
   * wire-sized packets with valid checksums, and brings both ends up.
   */
  async addVeth(aNs: Netns, aName: string, bNs: Netns, bName: string, mtu = 1500): Promise<void> {
    await runCommand(['ip', 'link', 'add', aName, 'netns', aNs.name, 'type', 'veth', 'peer', 'name', bName, 'netns', bNs.name]);
    for (const [ns, name] of [[aNs, aName], [bNs, bName]] as const) {
      await runCommand(ns.exec(['ip', 'link', 'set', name, 'mtu', String(mtu)]));
      // TSO/GSO/GRO off: otherwise tcpdump sees 64 kB super-packets; tx/rx checksum off: otherwise
      // frames carry partial checksums, which the userspace VLAN forwarder would pass on unfixed.
      await runCommand(ns.exec(['ethtool', '-K', name, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']));
      await runCommand(ns.exec(['ip', 'link', 'set', name, 'up']));
    }
  }

  /**
   * Two hosts on one link: namespaces `a` and `b` joined by veth a0–b0, with the given IPv4
   * addresses (/24) and, when given, IPv6 ones (/64, no duplicate address detection, so they are
   * usable at once).
   */
  async addHostPair(addresses: { a4: string; b4: string; a6?: string; b6?: string }): Promise<{ a: Netns; b: Netns }> {
    const a = await this.addNamespace('a');
    const b = await this.addNamespace('b');
    await this.addVeth(a, 'a0', b, 'b0');
    await runCommand(a.exec(['ip', 'addr', 'add', `${addresses.a4}/24`, 'dev', 'a0']));
    await runCommand(b.exec(['ip', 'addr', 'add', `${addresses.b4}/24`, 'dev', 'b0']));
    if (addresses.a6) await runCommand(a.exec(['ip', 'addr', 'add', `${addresses.a6}/64`, 'dev', 'a0', 'nodad']));
    if (addresses.b6) await runCommand(b.exec(['ip', 'addr', 'add', `${addresses.b6}/64`, 'dev', 'b0', 'nodad']));
    return { a, b };
  }

  /** Starts `argv` in the background (own process group) and registers it for cleanup. */
  start(name: string, argv: readonly string[], options: SpawnOptions = {}): BackgroundProcess {
    const [file, ...args] = argv;
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const proc = new BackgroundProcess(name, argv, child);
    this.processes.push(proc);
    return proc;
  }

  /** Stops every process and deletes every namespace; collects (never throws) errors. */
  async cleanup(): Promise<string[]> {
    const problems: string[] = [];
    await Promise.all(
      this.processes.map((p) =>
        p.stop('SIGTERM', 2_000).catch((error: unknown) => {
          problems.push(`${p.name}: ${String(error)}`);
        }),
      ),
    );
    for (const ns of [...this.namespaces].reverse()) {
      try {
        const pids = await runCommand(['ip', 'netns', 'pids', ns.name], { allowFailure: true });
        for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        }
        const del = await runCommand(['ip', 'netns', 'del', ns.name], { allowFailure: true });
        if (del.code !== 0) problems.push(`ip netns del ${ns.name}: ${del.stderr.trim()}`);
      } catch (error) {
        problems.push(`${ns.name}: ${String(error)}`);
      }
    }
    this.namespaces.length = 0;
    liveLabs.delete(this);
    return problems;
  }

  /**
   * Last-resort synchronous cleanup for when the process exits or is signalled while the lab is up
   * (a test runner's timeout, Ctrl-C): kills the process groups and deletes the namespaces.
   */
  cleanupSync(): void {
    for (const p of this.processes) if (!p.hasExited) killGroup(p.pid, 'SIGKILL');
    for (const ns of this.namespaces) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns.name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        for (const pid of pids.split(/\s+/).filter(Boolean)) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        }
        execFileSync('ip', ['netns', 'del', ns.name], { stdio: 'ignore' });
      } catch {
        // best effort
      }
    }
    this.namespaces.length = 0;
    liveLabs.delete(this);
  }
}

const liveLabs = new Set<Lab>();
let exitCleanupInstalled = false;

/** On exit, SIGINT or SIGTERM, removes whatever live labs still own, then lets the signal act. */
function installExitCleanup(): void {
  if (exitCleanupInstalled) return;
  exitCleanupInstalled = true;
  process.on('exit', () => {
    for (const lab of [...liveLabs]) lab.cleanupSync();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const handler = () => {
      for (const lab of [...liveLabs]) lab.cleanupSync();
      process.removeListener(signal, handler);
      process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}

/** True when running as root (namespaces and capture need it). */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Throws one error naming every missing program and the Debian package that provides it.
 * `programs` maps program name → package.
 */
export function requirePrograms(programs: Record<string, string>): void {
  const dirs = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).concat(['/usr/sbin', '/sbin']);
  const missing = Object.entries(programs).filter(([program]) =>
    !dirs.some((dir) => {
      try {
        accessSync(join(dir, program), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }),
  );
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))];
    throw new Error(
      `Cannot run without ${missing.map(([p]) => p).join(', ')}: install the Debian packages ${packages.join(' ')} ` +
        `(apt-get install ${packages.join(' ')}, or scripts/install-deps.sh --with-test-peers)`,
    );
  }
}
