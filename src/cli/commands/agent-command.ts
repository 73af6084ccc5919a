/**
 * `endsight agent`: the daemon that meters this host's traffic into the local store, and
 * `endsight up`: the agent on the embedded defaults, with a short guide printed first.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { VERSION } from '../../common/version.js';
import { Command } from 'commander';
import type { AgentConfig, AgentOverrides } from '../../agent/agent-config.js';

interface AgentCliOptions {
  dataDir?: string;
  config?: string;
  interface?: string[];
  health?: string;
  filter?: string;
  exportInterval?: string;
  logLevel: string;
  nats?: string;
  authority?: string;
  fleet?: string;
  id?: string;
  site?: string;
  tag?: string[];
  export?: string[];
  /** `up` only: the console's address, or off. */
  console?: string;
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];

export function agentCommand(): Command {
  const command = new Command('agent')
    .summary("capture this host's traffic into flow records, until stopped")
    .description(
      'Captures on every interface (or the ones given) through libpcap, meters packets into unidirectional ' +
        'flow records with their direction, interface and the process, user and container behind them (eBPF socket ' +
        'tracepoints), and writes them to the store every export interval. Runs in the foreground: ' +
        'SIGTERM or Ctrl-C stores every active flow, then exits; SIGHUP reloads the configuration. Needs root: it keeps ' +
        'root only to start its helpers, which drop it once the capture and the probes are open, and meters as an ' +
        'unprivileged user; over its CPU budget it samples packets 1 in N (docs/agent.md).',
    );
  addAgentOptions(command, '60s');
  command.addHelpText(
    'after',
    '\nExamples:\n' +
      '  sudo endsight agent\n' +
      "  sudo endsight agent --interface eth0 --interface 'tun*' --filter 'not port 22'\n" +
      '  sudo endsight agent --config /etc/endsight/agent.yaml\n' +
      '  curl -s 127.0.0.1:9469/metrics',
  );
  return command.action(async (options: AgentCliOptions) => {
    await runAgent(options, false);
  });
}

export function upCommand(): Command {
  const command = new Command('up')
    .summary('monitor this machine now: the agent on the embedded defaults (no broker needed)')
    .description(
      'Starts the agent on this machine with the embedded defaults (every interface, the default store, the health ' +
        'endpoint on 127.0.0.1:9469, records exported every 10 s) and the web console on 127.0.0.1:9470 over its store, ' +
        'and prints where to look. Stop it with Ctrl-C: every active flow is stored first.',
    );
  addAgentOptions(command, '10s');
  command.option('--console <host:port>', 'where the web console listens, or off', '127.0.0.1:9470');
  return command.action(async (options: AgentCliOptions) => {
    await runAgent(options, true);
  });
}

function addAgentOptions(command: Command, exportInterval: string): void {
  command
    .option('--data-dir <dir>', 'where the store lives (default: /var/lib/endsight as root, else ~/.local/share/endsight)')
    .option('--config <file>', 'YAML configuration (docs/agent.md lists every setting)')
    .option('--interface <name>', "capture only this interface; repeatable; '*' matches any characters (default: all)", (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--health <host:port>', 'health endpoint address, or off (default 127.0.0.1:9469)')
    .option('--filter <bpf>', "capture filter in pcap-filter(7) syntax, e.g. 'not port 22'")
    .option('--export <url>', 'also send the records to a NetFlow/IPFIX collector: v5://HOST:PORT, v9://…, ipfix://… or ipfix+tcp://… (repeatable; docs/netflow.md)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('--export-interval <duration>', `write finished records to the store this often (default ${exportInterval}, or the configuration's)`)
    .option('--log-level <level>', `log detail: ${LOG_LEVELS.join(', ')}`, 'info')
    .option('--nats <url>', 'answer signed fleet queries over this NATS server (nats://user:password@host:4222; docs/fleet.md)')
    .option('--authority <file>', "the authority's public key (endsight keys init): only queries it signed are answered")
    .option('--fleet <name>', 'the fleet this host answers for (default endsight)')
    .option('--id <name>', "this host's name in the fleet (default: the host name)")
    .option('--site <name>', "this host's site, for site: targets")
    .option('--tag <tag>', 'a tag for tag: targets; repeatable', (v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
}

async function runAgent(options: AgentCliOptions, guide: boolean): Promise<void> {
  if (!LOG_LEVELS.includes(options.logLevel)) throw new RangeError(`Cannot use --log-level ${JSON.stringify(options.logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`);
  const { loadAgentConfig } = await import('../../agent/agent-config.js');
  const overrides: AgentOverrides = {
    dataDir: options.dataDir,
    interfaces: options.interface,
    health: options.health,
    filter: options.filter,
    exportInterval: options.exportInterval ?? (guide && options.config === undefined ? '10s' : undefined),
    nats: options.nats,
    authority: options.authority,
    fleet: options.fleet,
    id: options.id,
    site: options.site,
    tags: options.tag,
    exports: options.export,
  };
  const load = (): AgentConfig => loadAgentConfig(options.config ?? null, overrides);
  const config = load();
  const { pino } = await import('pino');
  const log = pino({ level: options.logLevel, base: { host: config.host } }, pino.destination(2));

  // As root, the capture and attribution helpers stay with a small privileged helper and this process gives up root (docs/agent.md).
  let separated: Awaited<ReturnType<typeof import('../../agent/privilege/supervisor.js').becomeUnprivileged>> | null = null;
  if (process.getuid?.() === 0 && config.user !== 'root') {
    const { findWorkerUser, becomeUnprivileged } = await import('../../agent/privilege/supervisor.js');
    const user = findWorkerUser(config.user);
    separated = await becomeUnprivileged({ config, user, configFile: options.config ?? null, overrides });
    log.info({ user: user.name }, 'metering as an unprivileged user; capture and attribution helpers stay privileged');
  }

  const { FlowStore, MINUTE_SEGMENTS_COMPACTION, listSegments } = await import('../../store/index.js');
  const { Agent } = await import('../../agent/agent.js');
  const { HealthServer } = await import('../../agent/health-server.js');
  const store = await FlowStore.open(config.dataDir, { retentionMs: config.store.retentionMs, quotaBytes: config.store.quotaBytes ?? undefined, compaction: MINUTE_SEGMENTS_COMPACTION });
  let health: { port: number; close(): Promise<void> } | null = null;
  let fleet: { stop(): Promise<void> } | null = null;
  let exporter: import('../../netflow/exporter.js').FlowExporter | null = null;
  try {
    const storeBytes = (await listSegments(store.dataDir)).reduce((sum, s) => sum + s.bytes, 0);
    const helpers = separated ? separated.helpers : await localHelpers();
    const { FlowExporter, parseExportTarget } = await import('../../netflow/exporter.js');
    exporter = config.export.length > 0 ? await FlowExporter.open(config.export.map(parseExportTarget)) : null;
    const { openPrivacyGuard } = await import('../../privacy/open-privacy-guard.js');
    const privacy = await openPrivacyGuard(config, store.dataDir, log);
    const agent = new Agent(config, store, storeBytes, log, helpers, exporter, privacy);
    if (config.health) health = await HealthServer.start(config.health.host, config.health.port, agent);
    if (config.fleet) {
      const { startFleetMember } = await import('../../fleet/fleet-member.js');
      // A standing query's period is run once its flows are stored: ended (idle timeout), then exported, with a few seconds' slack.
      const standingDelayMs = (config.flows.idleTimeoutUs + config.flows.exportIntervalUs) / 1000 + 5000;
      fleet = await startFleetMember(config.fleet, store.dataDir, VERSION, log, standingDelayMs, privacy, () => heartbeatHealth(agent.status()));
    }
    const onStop = (signal: string): void => {
      log.info({ signal }, 'stopping: storing every active flow');
      void agent.stop();
    };
    const apply = (next: AgentConfig): void => {
      void agent.reload(next).then((needRestart) => {
        log.info({ needRestart }, needRestart.length > 0 ? `configuration reloaded; ${needRestart.join(', ')} take effect at the next start` : 'configuration reloaded');
      });
    };
    const problems = (message: string): void => {
      log.error({ err: message }, 'configuration not reloaded: it has problems; the running one stays');
    };
    const onReload = (): void => {
      // Unprivileged, the configuration is read again by the privileged helper: root's files stay root's.
      if (separated) {
        void separated.helpers.reload().then((result) => ('config' in result ? apply(result.config) : problems(result.error)));
        return;
      }
      try {
        apply(load());
      } catch (error) {
        problems((error as Error).message);
      }
    };
    // The privileged helper gone (killed): no capture can start again; every active flow is stored.
    const onDisconnect = (): void => onStop('the privileged helper went away');
    process.on('SIGTERM', onStop).on('SIGINT', onStop).on('SIGHUP', onReload);
    separated?.helper.on('disconnect', onDisconnect);
    const running = agent.run();
    if (guide) printGuide(config, store.dataDir, health?.port ?? null);
    const console = guide ? startConsoleBeside(store.dataDir, options.console ?? 'off', null, log) : null;
    try {
      await running;
    } finally {
      await console?.stop();
      process.off('SIGTERM', onStop).off('SIGINT', onStop).off('SIGHUP', onReload);
      separated?.helper.off('disconnect', onDisconnect);
    }
  } finally {
    await exporter?.close();
    await fleet?.stop();
    await health?.close();
    await store.close();
    // The channel keeps this process alive; closing it ends the privileged helper (and what it still runs).
    if (separated?.helper.connected) separated.helper.disconnect();
  }
}

/** The agent's status in brief, for its fleet heartbeats (the console's fleet page). */
function heartbeatHealth(s: import('../../agent/agent.js').AgentStatus): import('../../fleet/fleet-registry.js').HostHealth {
  return {
    packets: s.meter.packetsSeen, dropped: s.capture.droppedByKernel, flowsActive: s.meter.flowsActive, recordsStored: s.recordsStored, storeBytes: s.storeBytes,
    cpu: s.cpuFraction, rssBytes: process.memoryUsage.rss(), attributedRatio: s.attribution.flows > 0 ? s.attribution.attributed / s.attribution.flows : null, sampling: s.sampling,
  };
}

async function localHelpers(): Promise<ConstructorParameters<typeof import('../../agent/agent.js').Agent>[4]> {
  const { startLocalCapture } = await import('../../agent/capture/capture-program.js');
  const { startLocalAttribution } = await import('../../agent/attribution/attribution-feed.js');
  return { startCapture: startLocalCapture, startAttribution: startLocalAttribution };
}

/** Ends the command with this exit status, the reason already reported (by the worker). */
export class ExitCode extends Error {
  override name = 'ExitCode';
  constructor(readonly code: number) {
    super(`exit code ${code}`);
  }
}

/**
 * `endsight up`'s console: `endsight console --data-dir DIR` as a child process (as `user` when
 * given: the worker's, which owns the store), its URL printed once it listens. It failing to start
 * (the port taken) is logged; the agent goes on.
 */
function startConsoleBeside(dataDir: string, address: string, user: { uid: number; gid: number } | null, log: import('pino').Logger): { stop: () => Promise<void> } | null {
  if (address === 'off') return null;
  const child = spawn(process.execPath, [process.argv[1], 'console', '--data-dir', dataDir, '--http', address], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  });
  let stderr = '';
  let announced = false;
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
    const url = /the console is on (\S+)/.exec(stderr)?.[1];
    if (url && !announced) {
      announced = true;
      process.stdout.write(`web console: ${url}\n`);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.once('close', (code, signal) => {
    if (signal === null && !stopping) log.warn({ code, reason: stderr.trim().split('\n').pop() }, 'the console stopped; the agent goes on');
  });
  child.once('error', (error) => log.warn({ err: error.message }, 'the console did not start; the agent goes on'));
  let stopping = false;
  return {
    stop: async () => {
      stopping = true;
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function printGuide(config: AgentConfig, dataDir: string, healthPort: number | null): void {
  const d = dataDir === '/var/lib/endsight' ? '' : ` --data-dir ${dataDir}`;
  // As it was started: `endsight` once installed, `node bin/endsight.js` from a checkout.
  const script = process.argv[1] ?? 'endsight';
  const endsight = path.basename(script) === 'endsight.js' ? `node ${path.relative(process.cwd(), script) || script}` : 'endsight';
  const lines = [
    `endsight is monitoring this machine (${config.capture.interfaces.length > 0 ? config.capture.interfaces.join(', ') : 'every interface'}).`,
    `  store:   ${dataDir}`,
    healthPort === null ? '  health:  off' : `  health:  http://${config.health!.host}:${healthPort}/metrics`,
    `A flow is stored once it ends (${config.flows.idleTimeoutUs / 1e6} s without a packet, or ${config.flows.finTimeoutUs / 1e6} s after FIN/RST) ` +
      `and the next export (every ${config.flows.exportIntervalUs / 1e6} s). In another terminal:`,
    `  ${endsight} flows${d} --since 10m`,
    `  ${endsight} query${d} "SELECT direction, interface, sum(bytes) AS bytes FROM flows GROUP BY ALL ORDER BY bytes DESC"`,
    'Ctrl-C stops it after storing every active flow.',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
