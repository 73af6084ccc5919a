/** `endsight plan`: where NetFlow probes and collectors go (docs/coverage.md#endsight-plan). */
import { Command } from 'commander';
import { ResultWriter, type OutputFormat } from '../output.js';
import { readCsvFile, readSource } from './topo-inputs.js';

interface PlanCliOptions {
  topology: string;
  budget?: string;
  mode: string;
  area: string;
  rates?: string;
  probeRate: string;
  collectorCapacity: string;
  format: string;
}

export function planCommand(): Command {
  return new Command('plan')
    .summary('place NetFlow probes and collectors so that every link and LAN is observed')
    .description(
      'From a topology (a topology FILE.yaml, frr:DIR, or an OSPF capture, as for endsight topo --from), the probe placement that ' +
        'observes every point-to-point link and LAN with the fewest probes (greedy set cover; a switched LAN is seen only when every ' +
        'router on it has a probe), or with --budget K the K probes that observe the most; then collectors for the probes\' record ' +
        'rates (first-fit decreasing, --collector-capacity each). --mode light reuses the routers; --mode heavy adds a tap on every ' +
        'link and LAN instead. The plan says, before anything is deployed, how many probes, collectors and new nodes it needs.',
    )
    .requiredOption('--topology <source>', 'a topology FILE.yaml, frr:DIR, or a capture file of OSPF packets')
    .option('--budget <k>', 'at most this many probes: observe as much as they can')
    .option('--mode <mode>', 'light (probes on routers) or heavy (tap nodes on links)', 'light')
    .option('--area <id>', 'the OSPF area', '0.0.0.0')
    .option('--rates <file>', "probes' expected records/s: CSV with a header node,records_per_s (others --probe-rate)")
    .option('--probe-rate <n>', 'records/s a probe exports when --rates does not say', '1000')
    .option('--collector-capacity <n>', 'records/s one collector takes (Netflowize: 40,000 flows/s)', '40000')
    .option('--format <format>', 'table (probes, then a summary on stderr) or json (the whole plan)', 'table')
    .addHelpText('after', [
      '',
      'Columns (table): probe (the router, or the link of a tap), collector (the collector its records go to), records_per_s.',
      'JSON: mode, probes, elements (links and LANs), covered, uncovered (their names), collectors (node, probes, recordsPerS), addedNodes.',
      '',
      'Examples:',
      '  endsight plan --topology net.yaml',
      '  endsight plan --topology frr:/var/tmp/ospf --budget 10 --format json',
    ].join('\n'))
    .action((options: PlanCliOptions) => runPlan(options));
}

async function runPlan(options: PlanCliOptions): Promise<void> {
  if (options.mode !== 'light' && options.mode !== 'heavy') throw new RangeError(`Cannot use --mode ${JSON.stringify(options.mode)}: light or heavy`);
  if (!['table', 'json'].includes(options.format)) throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: table or json`);
  const whole = (text: string, name: string, min: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min) throw new RangeError(`Cannot use ${name} ${JSON.stringify(text)}: a whole number of at least ${min}`);
    return value;
  };
  const budget = options.budget === undefined ? undefined : whole(options.budget, '--budget', 1);
  const defaultRate = whole(options.probeRate, '--probe-rate', 0);
  const collectorCapacity = whole(options.collectorCapacity, '--collector-capacity', 1);
  const rates = options.rates === undefined ? undefined : new Map(await readCsvFile(options.rates, '--rates', ['node,records_per_s'], 'node,records_per_s such as 0.0.0.1,2500', ([node, rate]) => {
    const value = Number(rate);
    return node && Number.isFinite(value) && value >= 0 ? ([node, value] as const) : null;
  }));
  const { lsdb, nowMs } = await readSource({ from: options.topology, format: 'table' });
  const { NetworkModel } = await import('../../topo/network-model.js');
  const { planProbes } = await import('../../plan/probe-plan.js');
  const model = NetworkModel.fromLsdb(lsdb, options.area, nowMs);
  if (model.ids.length === 0) throw new RangeError(`Cannot plan for ${options.topology}: it has no router in area ${options.area}`);
  const plan = planProbes(model, { mode: options.mode, budget, rates, defaultRate, collectorCapacity });
  const over = plan.collectors.filter((c) => c.recordsPerS > collectorCapacity);
  process.stderr.write(
    `${plan.mode} plan: ${plan.probes.length} probes observe ${plan.covered} of ${plan.elements} links and LANs; ${plan.collectors.length} collectors` +
      (plan.addedNodes > 0 ? `; ${plan.addedNodes} nodes to add` : '; no node to add') +
      (plan.uncovered.length > 0 ? `; not observed: ${plan.uncovered.slice(0, 10).join(', ')}${plan.uncovered.length > 10 ? ', …' : ''}` : '') +
      (over.length > 0 ? `; ${over.length} probes export more than one collector takes` : '') + '\n',
  );
  if (options.format === 'json') {
    process.stdout.write(JSON.stringify(plan) + '\n');
    return;
  }
  const collectorOf = new Map(plan.collectors.flatMap((c) => c.probes.map((p) => [p, c.node] as const)));
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(['probe', 'collector', 'records_per_s'].map((name) => ({ name, type: name === 'records_per_s' ? 'DOUBLE' : 'VARCHAR' })), plan.probes.map((p) => [p, collectorOf.get(p) ?? null, rates?.get(p) ?? defaultRate]));
  writer.end();
}
