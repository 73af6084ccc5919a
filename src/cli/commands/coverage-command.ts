/** `endsight coverage`: how much traffic is seen against how many hosts are instrumented (docs/coverage.md). */
import { Command } from 'commander';
import { addDataDirOption, addWindowOptions } from '../common-options.js';
import { addFleetAskOptions, type FleetAskCliOptions } from '../nats-cli-options.js';
import { ResultWriter, type OutputFormat } from '../output.js';
import { APPLICATION_GROUP_SQL, APPLICATION_SQL } from '../../query/application-sql.js';

/** Per source, destination and application: bytes and flows (the application: protocol and the lower port). */
const PAIRS_SQL =
  'SELECT src_addr AS src, dst_addr AS dst, ' +
  `${APPLICATION_SQL} AS app, ` +
  'sum(bytes)::DOUBLE AS bytes, count(*)::DOUBLE AS flows FROM flows GROUP BY ALL';
/**
 * The same from the local store, cheaper, and already the unordered pairs (each pair and application
 * once): both directions grouped at once (least and greatest address), the application's text made
 * once per group rather than once per record, then the groups of one application merged (100 million
 * records: 17 s → 13 s, and no merging in JavaScript). The fleet asks PAIRS_SQL, whose single
 * GROUP BY ALL its planner splits, and the pairs are merged here.
 */
const LOCAL_PAIRS_SQL =
  'SELECT src, dst, app, sum(bytes) AS bytes, sum(flows) AS flows FROM (' +
  `SELECT least(src_addr, dst_addr) AS src, greatest(src_addr, dst_addr) AS dst, ${APPLICATION_SQL} AS app, ` +
  'sum(bytes)::DOUBLE AS bytes, count(*)::DOUBLE AS flows FROM flows ' +
  `GROUP BY least(src_addr, dst_addr), greatest(src_addr, dst_addr), ${APPLICATION_GROUP_SQL}) GROUP BY ALL`;

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
  const { coverage, unorderedPairs } = await import('../../coverage/coverage.js');
  const pairs = unordered ? rows.map((r) => ({ a: r.src, b: r.dst, bytes: r.bytes, flows: r.flows, app: r.app })) : unorderedPairs(rows);
  const hosts = new Set(pairs.flatMap((p) => [p.a, p.b])).size;
  const ks = checkpoints(hosts, options.format === 'json');
  const result = coverage(pairs, { points: ks, trials });
  if (options.chart) {
    const { coverageSvg } = await import('../../coverage/coverage-chart.js');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(options.chart, coverageSvg(coverage(pairs, { points: checkpoints(hosts, true), trials })));
    process.stderr.write(`wrote the chart to ${options.chart}\n`);
  }
  let named: string[] | null = null;
  if (target !== null) {
    let k = 0;
    const full = coverage(pairs, { points: Array.from({ length: hosts + 1 }, (_, i) => i), trials: 1 });
    while (k < hosts && full.points[k].bytes + 1e-12 < target) k++;
    named = full.order.slice(0, k);
    process.stderr.write(`${k} of ${hosts} hosts see ${(full.points[k].bytes * 100).toFixed(3)}% of the bytes (asked ${(target * 100).toFixed(3)}%): ${named.join(' ')}\n`);
  }
  if (options.format === 'json') {
    process.stdout.write(JSON.stringify({ hosts: result.hosts, total_bytes: result.totalBytes, total_flows: result.totalFlows, best_first: result.order, ...(named ? { cover: target, hosts_to_instrument: named } : {}), points: result.points.map((p) => ({ k: p.k, bytes: p.bytes, flows: p.flows, random_bytes: p.randomBytes, random_flows: p.randomFlows })), apps: result.apps.map((a) => ({ app: a.app, bytes: a.bytes, coverage: a.coverage })) }) + '\n');
    return;
  }
  const columns = ['hosts', 'share', 'bytes', 'flows', 'random_bytes', 'random_bytes_low', 'random_bytes_high', 'random_flows', ...result.apps.slice(0, 3).map((a) => `bytes_${a.app}`)].map((name) => ({ name, type: name === 'hosts' ? 'INTEGER' : 'DOUBLE' }));
  const r4 = (v: number): number => Math.round(v * 10_000) / 10_000;
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(columns, result.points.map((p, i) => [p.k, r4(p.k / Math.max(1, hosts)), r4(p.bytes), r4(p.flows), r4(p.randomBytes.mean), r4(p.randomBytes.low), r4(p.randomBytes.high), r4(p.randomFlows.mean), ...result.apps.slice(0, 3).map((a) => r4(a.coverage[i]))]));
  writer.end();
}

/** k = 0..10, then 1-2-5 steps, and every host; with `all`, every k. */
function checkpoints(hosts: number, all: boolean): number[] {
  if (all) return Array.from({ length: hosts + 1 }, (_, k) => k);
  const ks = new Set<number>();
  for (let k = 0; k <= Math.min(10, hosts); k++) ks.add(k);
  for (let decade = 10; decade <= hosts; decade *= 10) for (const f of [1, 2, 5]) if (decade * f <= hosts) ks.add(decade * f);
  ks.add(hosts);
  return [...ks].sort((a, b) => a - b);
}

/** The pairs' rows, and whether they are the unordered pairs already (the local store's). */
async function pairRows(options: CoverageOptions): Promise<{ rows: { src: string; dst: string; app: string; bytes: number; flows: number }[]; unordered: boolean }> {
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
    ({ columns, rows: cells } = await flowsAnswer({ ...options, dataDir }, PAIRS_SQL, 'flows', LOCAL_PAIRS_SQL));
  } finally {
    await cleanup?.();
  }
  const at = (name: string): number => columns.findIndex((c) => c.name === name);
  const [s, d, a, b, f] = ['src', 'dst', 'app', 'bytes', 'flows'].map(at);
  return { rows: cells.map((row) => ({ src: String(row[s]), dst: String(row[d]), app: String(row[a]), bytes: Number(row[b]), flows: Number(row[f]) })), unordered: options.nats === undefined };
}
