/** `endsight lab up|down|status TOPOLOGY_FILE`: an emulated network in namespaces, instrumented per the plan (docs/lab.md). */
import { Command } from 'commander';

interface LabCliOptions {
  stateDir?: string;
  rate?: string;
  delay?: string;
  loss?: string;
  keepState?: boolean;
  format: string;
}

const FORMATS = ['table', 'json'];

function checkFormat(format: string): void {
  if (!FORMATS.includes(format)) throw new RangeError(`Cannot use --format ${JSON.stringify(format)}: use ${FORMATS.join(' or ')}`);
}

function needRoot(): void {
  if (process.getuid?.() !== 0) throw new RangeError('Cannot run a lab without root: it makes network namespaces and runs FRR (sudo endsight lab …)');
}

export function labCommand(): Command {
  const lab = new Command('lab')
    .summary('an emulated network from a topology file: FRR routers, hosts, probes and agents per the plan, traffic')
    .description(
      'Builds the network of a topology FILE.yaml (the routers, links and LANs of `endsight topo --from`, with `hosts:` on the ' +
        "routers' stub networks) in Linux network namespaces: FRR OSPF on every router, NetFlow probes (softflowd) where " +
        '`endsight plan` (light mode) puts them and `endsight collect` on its collector node, `endsight agent` on the hosts marked ' +
        'agent: true, and HTTP, DNS, iperf3 and ping between every pair of hosts. The flows gather in the state directory ' +
        '(collector/ and hosts/NAME/, each a store for endsight query --data-dir). `lab down` removes everything, also after a failure. ' +
        'Needs root, frr, softflowd, iperf3, python3, curl and dig (dnsutils). docs/lab.md.',
    );
  const common = (command: Command): Command =>
    command
      .argument('<topology>', 'the topology file (YAML)')
      .option('--state-dir <dir>', 'where FRR, the stores and the logs go (default /run/endsight/lab/NAME)')
      .option('--format <format>', `output: ${FORMATS.join(', ')}`, 'table');
  lab.addCommand(
    common(new Command('up').summary('build the network, start FRR, probes, collector, agents and traffic; returns once OSPF has converged'))
      .option('--rate <rate>', 'rate-limit every link (tc tbf), e.g. 100mbit')
      .option('--delay <time>', 'delay on every link (tc netem, e.g. 5ms): only where the kernel has netem')
      .option('--loss <percent>', 'loss on every link (tc netem, e.g. 1%): only where the kernel has netem')
      .addHelpText('after', '\nExample:\n  sudo endsight lab up office.yaml && sudo endsight lab status office.yaml\n')
      .action(async (topology: string, options: LabCliOptions) => {
        checkFormat(options.format);
        needRoot();
        const { labUp } = await import('../../lab/network-lab.js');
        const state = await labUp(topology, { stateDir: options.stateDir, rate: options.rate, delay: options.delay, loss: options.loss, log: (line) => process.stderr.write(`${line}\n`) });
        if (!state.netem) process.stderr.write('this kernel has no netem (sch_netem): links have no delay or loss (rate limits work)\n');
        if (options.format === 'json') process.stdout.write(JSON.stringify(state) + '\n');
        else {
          process.stdout.write(`lab ${state.name} is up: ${state.namespaces.length} namespaces; state in ${state.stateDir}\n`);
          process.stdout.write(`  probes: ${state.probes.map((p) => `${p.router}/${p.interface}`).join(', ') || 'none'} → collector on ${state.collector.router} (${state.collector.address})\n`);
          process.stdout.write(`  agents: ${state.hosts.filter((h) => h.agent).map((h) => h.name).join(', ') || 'none'}; hosts: ${state.hosts.map((h) => `${h.name} ${h.address}`).join(', ')}\n`);
          process.stdout.write(`  flows: endsight query --data-dir ${state.stateDir}/collector "SELECT host, count(*) FROM flows GROUP BY host"\n`);
        }
      }),
  );
  lab.addCommand(
    common(new Command('status').summary("what runs in the lab's namespaces, and the flows collected so far"))
      .addHelpText('after', '\nColumns: namespace, processes (running in it). Then the probes, agents and flows stored per exporter and per agent.\n')
      .action(async (topology: string, options: LabCliOptions) => {
        checkFormat(options.format);
        needRoot();
        const { labStatus } = await import('../../lab/network-lab.js');
        const status = await labStatus(topology, options.stateDir);
        const flows = status.state ? await storedFlows(status.state) : {};
        if (options.format === 'json') {
          process.stdout.write(JSON.stringify({ ...status, flows }) + '\n');
        } else if (status.namespaces.length === 0) {
          process.stdout.write(`lab ${status.name} is down\n`);
        } else {
          for (const n of status.namespaces) process.stdout.write(`${n.ns.padEnd(24)} ${n.processes} processes\n`);
          for (const [store, counts] of Object.entries(flows)) process.stdout.write(`flows in ${store}: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet'}\n`);
        }
      }),
  );
  lab.addCommand(
    common(new Command('down').summary('stop everything in the lab and delete its namespaces (and its state directory, unless --keep-state)'))
      .option('--keep-state', 'keep the state directory (the stores, FRR files, logs)')
      .action(async (topology: string, options: LabCliOptions) => {
        checkFormat(options.format);
        needRoot();
        const { labDown } = await import('../../lab/network-lab.js');
        const result = await labDown(topology, { stateDir: options.stateDir, keepState: options.keepState });
        if (options.format === 'json') process.stdout.write(JSON.stringify(result) + '\n');
        else process.stdout.write(`lab down: ${result.namespaces} namespaces deleted, ${result.processes} processes stopped${result.problems.length > 0 ? `; problems: ${result.problems.join('; ')}` : ''}\n`);
        if (result.problems.length > 0) process.exitCode = 1;
      }),
  );
  return lab;
}

/** Flows per exporter in the collector's store and per agent: `{ store: { host: flows } }`. */
async function storedFlows(state: import('../../lab/network-lab.js').LabState): Promise<Record<string, Record<string, number>>> {
  const { QueryEngine } = await import('../../query/index.js');
  const path = await import('node:path');
  const out: Record<string, Record<string, number>> = {};
  const stores = [['collector', path.join(state.stateDir, 'collector')], ...state.hosts.filter((h) => h.agent).map((h) => [`hosts/${h.name}`, path.join(state.stateDir, 'hosts', h.name)])];
  for (const [label, dir] of stores) {
    const engine = await QueryEngine.open(dir).catch(() => null);
    if (!engine) continue;
    try {
      const { rows } = await engine.all('SELECT host, count(*)::INTEGER AS n FROM flows GROUP BY host ORDER BY host');
      out[label] = Object.fromEntries(rows.map(([host, n]) => [String(host), Number(n)]));
    } finally {
      engine.close();
    }
  }
  return out;
}
