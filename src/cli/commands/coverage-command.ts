/** `endsight coverage`: how much traffic is seen against how many hosts are instrumented (docs/coverage.md). */
import { Command } from 'commander';
import { addDataDirOption, addWindowOptions } from '../common-options.js';
import { addFleetAskOptions, type FleetAskCliOptions } from '../nats-cli-options.js';
import { ResultWriter, type OutputFormat } from '../output.js';
import { pairRowsOf, type PairRow } from '../../coverage/coverage-report.js';

interface CoverageOptions extends Partial<FleetAskCliOptions> {
  dataDir: string;
  from?: string;
  format: string;
  chart?: string;
  cover?: string;
  trials: string;
  since?: string;
  between?: string;
  via: string;
}

export function coverageCommand(): Command {
  const command = new Command('coverage')
    .summary('how much traffic is seen against how many hosts run the agent, and which hosts to instrument')
    .description(
      'From flow records (the store, a capture file, or the fleet), the share of bytes and flows seen when k hosts are instrumented, ' +
        'for every k: best-first (greedy maximum coverage; a flow is seen when either end is instrumented) and random (mean and 95% ' +
        'interval over --trials random choices); per application under the best-first order. It names the hosts to instrument ' +
        'for a byte coverage (--cover); --chart writes the curves as SVG. With --nats, --target chooses the hosts asked, as for endsight query.',
    )
    .option('--from <capture>', 'a capture file to meter first (as endsight import does), instead of the store')
    .option('--nats <url>', 'the fleet\'s flows: one signed query to every host over this NATS server (docs/fleet.md)')
    .option('--via <path>', 'with --nats: hosts or sites', 'hosts')
    .option('--cover <share>', 'name the fewest best-first hosts that see this share of the bytes (e.g. 0.99)')
    .option('--trials <n>', 'random choices per k', '100')
    .option('--chart <file.svg>', 'write the coverage curves as an SVG chart')
    .option('--format <format>', 'table, csv or json (json: hosts, best-first order, and per k the coverages)', 'table')
    .addHelpText('after', [
      '',
      'Columns: hosts (k instrumented), share (k over all hosts), bytes, flows (best-first coverage), random_bytes, random_bytes_low,',
      'random_bytes_high (mean and 95% interval), random_flows; the table shows k at 1, 2, 5, 10, … and every host count up to 10.',
      '',
      'Examples:',
      '  endsight coverage --since 24h --cover 0.99',
      '  endsight coverage --from samples/sample.pcap.gz --chart coverage.svg',
      '  endsight coverage --nats nats://coordinator:secret@broker:4222 --sign-key authority.key --since 1h --format json',
    ].join('\n'));
  addWindowOptions(command);
  addDataDirOption(command);
  addFleetAskOptions(command);
  return command.action((options: CoverageOptions) => runCoverage(options));
}

async function runCoverage(options: CoverageOptions): Promise<void> {
  if (!['table', 'csv', 'json'].includes(options.format)) throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: use table, csv or json`);
  const trials = Number(options.trials);
  if (!Number.isInteger(trials) || trials < 1 || trials > 10_000) throw new RangeError(`Cannot use --trials ${JSON.stringify(options.trials)}: a whole number from 1 to 10000`);
  const target = options.cover === undefined ? null : Number(options.cover);
  if (target !== null && !(target > 0 && target <= 1)) throw new RangeError(`Cannot use --cover ${JSON.stringify(options.cover)}: a share above 0 and at most 1, e.g. 0.99`);
  if (options.from !== undefined && options.nats !== undefined) throw new RangeError('Cannot read both --from and --nats: pick one source of flows');
  const { rows, unordered } = await pairRows(options);
  const { coverageReport, coverageJson } = await import('../../coverage/coverage-report.js');
  const report = coverageReport(rows, unordered, { trials, allPoints: options.format === 'json', cover: target });
  const { result, hosts } = report;
  if (options.chart) {
    const { coverageSvg } = await import('../../coverage/coverage-chart.js');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(options.chart, coverageSvg(options.format === 'json' ? result : coverageReport(rows, unordered, { trials, allPoints: true, cover: null }).result));
    process.stderr.write(`wrote the chart to ${options.chart}\n`);
  }
  if (report.cover) {
    const { cover } = report;
    process.stderr.write(`${cover.hosts.length} of ${hosts} hosts see ${(cover.bytes * 100).toFixed(3)}% of the bytes (asked ${(cover.target * 100).toFixed(3)}%): ${cover.hosts.join(' ')}\n`);
  }
  if (options.format === 'json') {
    process.stdout.write(JSON.stringify(coverageJson(report)) + '\n');
    return;
  }
  const columns = ['hosts', 'share', 'bytes', 'flows', 'random_bytes', 'random_bytes_low', 'random_bytes_high', 'random_flows', ...result.apps.slice(0, 3).map((a) => `bytes_${a.app}`)].map((name) => ({ name, type: name === 'hosts' ? 'INTEGER' : 'DOUBLE' }));
  const r4 = (v: number): number => Math.round(v * 10_000) / 10_000;
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(columns, result.points.map((p, i) => [p.k, r4(p.k / Math.max(1, hosts)), r4(p.bytes), r4(p.flows), r4(p.randomBytes.mean), r4(p.randomBytes.low), r4(p.randomBytes.high), r4(p.randomFlows.mean), ...result.apps.slice(0, 3).map((a) => r4(a.coverage[i]))]));
  writer.end();
}

/** The pairs' rows, and whether they are the unordered pairs already (the local store's). */
async function pairRows(options: CoverageOptions): Promise<{ rows: PairRow[]; unordered: boolean }> {
  let dataDir = options.dataDir;
  let cleanup: (() => Promise<void>) | null = null;
  if (options.from !== undefined) {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'endsight-coverage-'));
    cleanup = () => rm(dataDir, { recursive: true, force: true });
    const { FlowStore } = await import('../../store/index.js');
    const { importCaptures } = await import('../../ingest/import-captures.js');
    const store = await FlowStore.open(dataDir, { quotaBytes: 64 * 2 ** 30 });
    try {
      await importCaptures([options.from], store, { idleTimeoutUs: 90e6, activeTimeoutUs: 1800e6, finTimeoutUs: 5e6, exportIntervalUs: 60e6, maxFlows: 1_000_000 });
    } finally {
      await store.close();
    }
  }
  let columns: { name: string }[];
  let cells: unknown[][];
  try {
    const { flowsAnswer } = await import('../fleet-ask.js');
    const { PAIRS_SQL, LOCAL_PAIRS_SQL } = await import('../../coverage/coverage-report.js');
    ({ columns, rows: cells } = await flowsAnswer({ ...options, dataDir }, PAIRS_SQL, 'flows', LOCAL_PAIRS_SQL));
  } finally {
    await cleanup?.();
  }
  return { rows: pairRowsOf(columns, cells), unordered: options.nats === undefined };
}
