/** `endsight capacity`: per-application demand by site and time, and its projection onto links (docs/capacity.md). */
import { Command, Option } from 'commander';
import type { CellValue } from '../../query/index.js';
import { addDataDirOption, addFormatOption, addWindowOptions, positiveInteger, repeatable } from '../common-options.js';
import { addFleetAskOptions, type FleetAskCliOptions } from '../nats-cli-options.js';
import { ResultWriter, type OutputFormat } from '../output.js';
// Light modules (no DuckDB), so that --help and bad options answer at once.
import { parseApplication, type ApplicationSpec } from '../../capacity/application-spec.js';
import { betweenText, stepStart, stepWindow } from '../../capacity/capacity-window.js';
import { parseDurationMs } from '../../common/duration.js';

interface CapacityOptions extends Partial<FleetAskCliOptions> {
  since?: string;
  between?: string;
  step: string;
  app: string[];
  byProcess?: boolean;
  trend: string;
  horizon: string;
  site?: string;
  sites?: string;
  dataDir: string;
  via: string;
  topology?: string;
  move: string[];
  area: string;
  capacity?: string;
  top: string;
  format: string;
}

const TREND_BINS: Record<string, number> = { day: 86_400, week: 7 * 86_400 };

export function capacityCommand(): Command {
  const command = new Command('capacity')
    .summary("capacity planning: each application's demand by site over time (mean, peak, p95, growth), and on the links if it moves")
    .description(
      'Per application (protocol and lower port, as tcp/443; --by-process also per process) and site (the reporting host\'s), ' +
        'the bytes of every --step of the window (steps without traffic count as zero), described as rates in bits/s: the mean, ' +
        'the peak and when, the 95th percentile of the steps, and the growth trend (a least-squares line through the daily or weekly ' +
        'rate) with the p95 it leads to after --horizon. From this store, or from the fleet (--nats, one signed query; merged exactly). ' +
        'With --topology and --move APP=ROUTER: the what-if of moving the application\'s servers (the addresses serving its port) ' +
        'to that router, as the load of every link at the application\'s peak and p95, before and after.',
    )
    .option('--step <duration>', 'the length of a step (e.g. 5m, 1h, 1d)', '1h')
    .addOption(new Option('--app <app>', 'only this application: tcp/443, udp/53, sctp/PORT, icmp, icmpv6 or ipN; repeatable').argParser(repeatable).default([], 'every application'))
    .option('--by-process', 'one row per application and process (the process owning the socket) instead of per application')
    .option('--trend <bin>', 'fit the growth trend through the mean rate of each day or week', 'day')
    .option('--horizon <duration>', 'how far past the window the p95 is projected (e.g. 12w, 90d)', '12w')
    .option('--site <name>', 'the site of hosts with no other: the whole store without --nats (default: none)')
    .option('--sites <file>', 'sites by host: CSV with a header host,site (before the registry\'s)')
    .option('--nats <url>', "the fleet's flows: one signed query to every host over this NATS server")
    .option('--via <path>', 'with --nats: hosts or sites', 'hosts')
    .option('--topology <source>', 'with --move: the network, as endsight topo --from (a topology FILE.yaml, frr:DIR or an OSPF capture)')
    .addOption(new Option('--move <app=router>', 'move the servers of an application to a router, e.g. tcp/443=0.0.0.3; repeatable (one router per application)').argParser(repeatable).default([], 'none'))
    .option('--area <id>', 'with --move: the area whose paths are followed', '0.0.0.0')
    .option('--capacity <file>', "with --move: link capacities, CSV address,bps by the sending interface's address (as topo links)")
    .option('--top <n>', 'how many rows: applications by bytes, or links by change', '20')
    .addHelpText('after', [
      '',
      'Window: --since (default 4w) or --between START/END, cut to whole steps (boundaries on multiples of --step from',
      '2000-01-03T00:00Z, so hours and days start on the UTC hour and midnight). A flow counts in the step it starts in.',
      '',
      'Columns (demand):',
      '  app                   protocol and lower port (tcp/443), as both ends of a connection agree',
      '  process               with --by-process: the process owning the socket (NULL when not known)',
      '  site                  the reporting hosts\' site: --sites, else the fleet registry\'s (--nats), else --site',
      '  hosts                 how many reporting hosts had traffic of it',
      '  steps, active_steps   steps in the window, and those with traffic (the others count as zero)',
      '  bytes                 bytes in the window, as the site\'s hosts recorded them (a flow between two',
      '                        instrumented hosts counts at both ends)',
      '  mean_bps              bytes × 8 over the window\'s length',
      '  peak_bps, peak_at     the highest step rate, and the start of the first step at it (UTC)',
      '  p95_bps               95th percentile of the step rates: the ⌈0.95·n⌉-th smallest of the n steps',
      '  growth_bps_per_week   slope of the least-squares line through the mean rate of each --trend bin',
      '  growth_pct_per_week   that slope over the mean rate of the bins, in percent',
      '  projected_p95_bps     p95_bps × the line\'s level at the window\'s end + --horizon over its mean level',
      '',
      'Columns (--move): from, to, via, from_address (the link, as topo links shows it), and in bits/s:',
      '  peak_before_bps, peak_after_bps, peak_change_bps   the moved applications\' traffic in their busiest step',
      '  p95_before_bps, p95_after_bps, p95_change_bps      their window\'s traffic scaled to their p95 step',
      '  total_before_bps, total_after_bps                  all traffic in that busiest step (the moved included)',
      '  capacity_bps, before_utilisation, after_utilisation  with --capacity: the totals over the capacity',
      'The links that change most at the peak come first; stderr gives the moved applications\' demand and what was not routed.',
      '',
      'Examples:',
      '  endsight capacity --since 4w                                   # every application of this host, hourly',
      '  endsight capacity --app tcp/443 --app udp/53 --step 5m --since 7d --by-process',
      '  endsight capacity --nats nats://coordinator:secret@broker:4222 --sign-key authority.key --since 4w --trend week --horizon 26w',
      '  endsight capacity --since 4w --topology frr:/var/tmp/ospf --move tcp/443=0.0.0.3 --capacity caps.csv',
      '  endsight capacity --between 2026-11-01T00:00Z/2026-12-01T00:00Z --nats … --sign-key … --topology net.yaml --move tcp/25=10.0.0.4 --format csv',
    ].join('\n'));
  // The store or the fleet, as every verb that reads flows; the format as a choice commander checks.
  addFormatOption(addDataDirOption(addWindowOptions(command)));
  return addFleetAskOptions(command).action((options: CapacityOptions) => runCapacity(options));
}

async function runCapacity(options: CapacityOptions): Promise<void> {
  const top = positiveInteger(options.top, '--top');
  const window = stepWindow(options);
  const stepS = window.stepUs / 1e6;
  const binS = TREND_BINS[options.trend];
  if (binS === undefined) throw new RangeError(`Cannot use --trend ${JSON.stringify(options.trend)}: use day or week`);
  if (binS % stepS !== 0) throw new RangeError(`Cannot fit a trend per ${options.trend} with --step ${options.step}: the step must divide a ${options.trend} (e.g. 5m, 1h, 1d)`);
  const horizonS = parseDurationMs(options.horizon, '--horizon') / 1000;
  const apps = options.app.map((a) => parseApplication(a));
  const moves = options.move.map(parseMove);
  if (moves.length > 0 && options.topology === undefined) throw new RangeError('Cannot move an application without the network: give --topology (a topology file, frr:DIR or an OSPF capture)');
  if (moves.length === 0 && (options.topology !== undefined || options.capacity !== undefined)) throw new RangeError('Cannot use --topology or --capacity without --move APP=ROUTER: they are for the projection onto links');
  if (moves.length > 0 && (apps.length > 0 || options.byProcess === true)) throw new RangeError('Cannot use --app or --by-process with --move: the projection is of the moved applications, named by --move');
  if (new Set(moves.map((m) => m.app.name)).size !== moves.length) throw new RangeError('Cannot move one application to two routers: give each application one --move');
  // Every store (and the fleet) gets the window's whole steps as its own window, which prunes segments.
  const asked = { ...options, since: undefined, between: betweenText(window) };
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  const { flowsAnswer } = await import('../fleet-ask.js');
  if (moves.length > 0) {
    const { projectCapacity } = await import('./capacity-command-projection.js');
    const { columns, rows } = await projectCapacity(asked, window, moves, { top, binSteps: binS / stepS, horizonS, area: options.area, topology: options.topology!, capacity: options.capacity });
    writer.rows(columns, rows);
    writer.end();
    return;
  }

  const { demandSql } = await import('../../capacity/demand-sql.js');
  const { demandGroups, demandRows } = await import('../../capacity/demand-table.js');
  const answer = await flowsAnswer(asked, demandSql(window, apps, options.byProcess === true), 'demand');
  const siteOf = await sitesOf(options, asked);
  const groups = demandGroups(demandRows(answer.columns, answer.rows), window, siteOf, binS / stepS, horizonS);
  process.stderr.write(`${window.steps} steps of ${options.step} from ${stepStart(window, 0)} to ${new Date(window.endUs / 1000).toISOString()}; ${groups.length} application${options.byProcess ? '-process' : ''}-site groups; trend per ${options.trend}, projected ${options.horizon} past the end\n`);
  const names = ['app', ...(options.byProcess ? ['process'] : []), 'site', 'hosts', 'steps', 'active_steps', 'bytes', 'mean_bps', 'peak_bps', 'peak_at', 'p95_bps', 'growth_bps_per_week', 'growth_pct_per_week', 'projected_p95_bps'];
  const text = new Set(['app', 'process', 'site', 'peak_at']);
  writer.rows(
    names.map((name) => ({ name, type: text.has(name) ? 'VARCHAR' : 'DOUBLE' })),
    groups.slice(0, top).map((g): CellValue[] => [
      g.app, ...(options.byProcess ? [g.process] : []), g.site, g.hosts, g.stats.steps, g.stats.activeSteps, g.stats.bytes,
      round(g.stats.meanBps), round(g.stats.peakBps), stepStart(window, g.stats.peakStep), round(g.stats.p95Bps),
      round(g.stats.growthBpsPerWeek), round(g.stats.growthPercentPerWeek), round(g.stats.projectedP95Bps),
    ]),
  );
  writer.end();
}

/** `APP=ROUTER`, e.g. tcp/443=0.0.0.3. */
export function parseMove(text: string): { app: ApplicationSpec; router: string } {
  const match = /^([^=]+)=(\d{1,3}(?:\.\d{1,3}){3})$/.exec(text.trim());
  if (!match) throw new RangeError(`Cannot read --move ${JSON.stringify(text)}: expected APP=ROUTER such as tcp/443=0.0.0.3 (an application and a router ID)`);
  const app = parseApplication(match[1], '--move');
  if (app.port === null) throw new RangeError(`Cannot move ${app.name}: it has no port, so no end of its flows is its server (move tcp/PORT, udp/PORT or sctp/PORT)`);
  return { app, router: match[2] };
}

/**
 * The site of each reporting host: --sites FILE first, then (with --nats) the fleet registry's
 * `hosts` table, whose `id` is the agent's and, unless its configuration says otherwise, the `host`
 * of its records; then --site for every host left.
 */
async function sitesOf(options: CapacityOptions, asked: CapacityOptions): Promise<(host: string | null) => string | null> {
  const known = new Map<string, string | null>();
  if (options.nats !== undefined) {
    const { flowsAnswer } = await import('../fleet-ask.js');
    // The registry answers for the target's hosts; it is the coordinator's, so always --via hosts.
    const registry = await flowsAnswer({ ...asked, via: 'hosts' }, 'SELECT id, site FROM hosts', 'sites');
    for (const [id, site] of registry.rows) known.set(String(id), site === null ? null : String(site));
  }
  if (options.sites !== undefined) {
    const { readCsvFile } = await import('./topo-inputs.js');
    const rows = await readCsvFile(options.sites, '--sites', ['host,site'], 'host,site', ([host, site]) => (host && site ? [host, site] as const : null));
    for (const [host, site] of rows) known.set(host, site);
  }
  const fallback = options.site ?? null;
  return (host) => (host !== null ? known.get(host) ?? fallback : fallback);
}

export function round(value: number | null): number | null {
  return value === null ? null : Math.round(value * 1000) / 1000;
}
