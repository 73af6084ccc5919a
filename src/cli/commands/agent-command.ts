/**
 * `endsight agent`: the daemon that meters this host's traffic into the local store, and
 * `endsight up`: the agent on the embedded defaults, with a short guide printed first.
 */
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
}

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];

export function agentCommand(): Command {
  const command = new Command('agent')
    .summary("capture this host's traffic into flow records, until stopped")
    .description(
      "Captures on every interface (or the ones given) through libpcap, meters packets into unidirectional flow " +
        'records with their direction, and writes them to the store every export interval. Runs in the foreground: ' +
        'SIGTERM or Ctrl-C stores every active flow, then exits; SIGHUP reloads the configuration. Needs root or ' +
        'CAP_NET_RAW + CAP_NET_ADMIN for the capture, which tcpdump holds alone (docs/agent.md).',
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
        'endpoint on 127.0.0.1:9469, records exported every 10 s) and prints where to look. Stop it with Ctrl-C: ' +
        'every active flow is stored first.',
    );
  addAgentOptions(command, '10s');
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
    .option('--export-interval <duration>', `write finished records to the store this often (default ${exportInterval}, or the configuration's)`)
    .option('--log-level <level>', `log detail: ${LOG_LEVELS.join(', ')}`, 'info');
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
  };
  const load = (): AgentConfig => loadAgentConfig(options.config ?? null, overrides);
  const config = load();
  const { pino } = await import('pino');
  const log = pino({ level: options.logLevel, base: { host: config.host } }, pino.destination(2));
  const { FlowStore, listSegments } = await import('../../store/index.js');
  const { Agent } = await import('../../agent/agent.js');
  const { HealthServer } = await import('../../agent/health-server.js');

  const store = await FlowStore.open(config.dataDir, { retentionMs: config.store.retentionMs, quotaBytes: config.store.quotaBytes ?? undefined });
  let health: { port: number; close(): Promise<void> } | null = null;
  try {
    const storeBytes = (await listSegments(store.dataDir)).reduce((sum, s) => sum + s.bytes, 0);
    const { startLocalCapture } = await import('../../agent/tcpdump-capture.js');
    const { startLocalAttribution } = await import('../../agent/attribution/attribution-feed.js');
    const agent = new Agent(config, store, storeBytes, log, { startCapture: startLocalCapture, startAttribution: startLocalAttribution });
    if (config.health) health = await HealthServer.start(config.health.host, config.health.port, agent);
    const onStop = (signal: string): void => {
      log.info({ signal }, 'stopping: storing every active flow');
      void agent.stop();
    };
    const onReload = (): void => {
      try {
        const next = load();
        void agent.reload(next).then((needRestart) => {
          log.info({ needRestart }, needRestart.length > 0 ? `configuration reloaded; ${needRestart.join(', ')} take effect at the next start` : 'configuration reloaded');
        });
      } catch (error) {
        log.error({ err: (error as Error).message }, 'configuration not reloaded: it has problems; the running one stays');
      }
    };
    process.on('SIGTERM', onStop).on('SIGINT', onStop).on('SIGHUP', onReload);
    const running = agent.run();
    if (guide) printGuide(config, store.dataDir, health?.port ?? null);
    try {
      await running;
    } finally {
      process.off('SIGTERM', onStop).off('SIGINT', onStop).off('SIGHUP', onReload);
    }
  } finally {
    await health?.close();
    await store.close();
  }
}

function printGuide(config: AgentConfig, dataDir: string, healthPort: number | null): void {
  const d = dataDir === '/var/lib/endsight' ? '' : ` --data-dir ${dataDir}`;
  const lines = [
    `endsight is monitoring this machine (${config.capture.interfaces.length > 0 ? config.capture.interfaces.join(', ') : 'every interface'}).`,
    `  store:   ${dataDir}`,
    healthPort === null ? '  health:  off' : `  health:  http://${config.health!.host}:${healthPort}/metrics`,
    `A flow is stored once it ends (${config.flows.idleTimeoutUs / 1e6} s without a packet, or ${config.flows.finTimeoutUs / 1e6} s after FIN/RST) ` +
      `and the next export (every ${config.flows.exportIntervalUs / 1e6} s). In another terminal:`,
    `  endsight flows${d} --since 10m`,
    `  endsight query${d} "SELECT direction, interface, sum(bytes) AS bytes FROM flows GROUP BY ALL ORDER BY bytes DESC"`,
    'Ctrl-C stops it after storing every active flow.',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}
