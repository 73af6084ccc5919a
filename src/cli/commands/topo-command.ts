/** `endsight topo lsdb|routes --from SOURCE`: the OSPF link-state database and the routes SPF computes from it (docs/topo.md). */
import { Command } from 'commander';
import { ResultWriter, type OutputFormat } from '../output.js';
import { addListenOptions, addMatrixOptions, loadMatrix, readCapacities, readSource, TOPO_FORMATS as FORMATS, type MatrixOptions, type SourceOptions } from './topo-inputs.js';

const TYPE_NAMES: Record<number, string> = { 1: 'router', 2: 'network', 3: 'summary', 4: 'asbr-summary', 5: 'external', 7: 'nssa-external' };

const FROM_HELP = 'a capture file of OSPF packets, if:NAME (listen on an interface), frr:DIR (FRR\'s database listings as JSON), or a topology FILE.yaml';

function withSource(command: Command, required = true): Command {
  return addListenOptions(
    required ? command.requiredOption('--from <source>', FROM_HELP) : command.option('--from <source>', `${FROM_HELP}; without it the map is empty and the flow pages still work`),
  ).option('--format <format>', `output: ${FORMATS.join(', ')}`, 'table');
}

export function topoCommand(): Command {
  const topo = new Command('topo')
    .summary('the network view: the OSPF link-state database and its routes')
    .description(
      'Reads OSPFv2 from a SOURCE and shows its link-state database or the routes a router computes from it (SPF, RFC 2328 §16). ' +
        'SOURCE is a capture file (pcap or pcapng, optionally compressed) of OSPF packets on a link (the database is what the ' +
        'capture saw flooded), or frr:DIR: FRR\'s `show ip ospf database router|network|summary|asbr-summary|external json` ' +
        'saved as *.json files in DIR or in one subfolder per router (their union). Each LSA is kept at its newest instance; ' +
        'if:NAME listens on an interface (tcpdump, root) for --listen and keeps what is flooded meanwhile. ' +
        'A FILE.yaml is a network described by hand (docs/topo.md: routers, links, lans, externals). ' +
        'With --adjacency, if:NAME joins the LAN as a stub router (RFC 6987) and gets the area\'s whole database from the DR within seconds. ' +
        'docs/topo.md says what each source can and cannot see.',
    );
  topo.addCommand(
    withSource(new Command('lsdb').summary('list the link-state database: every LSA by area'))
      .option('--area <id>', 'only this area (and the AS-wide external LSAs)')
      .addHelpText('after', '\nExample:\n  endsight topo lsdb --from ospf.pcap\n\nColumns: area (as for AS-external LSAs), type, lsid, adv_router, seq (hex), age (s, at the capture\'s last packet), checksum (hex), length (bytes)\n')
      .action((options: SourceOptions & { area?: string }) => listDatabase(options)),
  );
  topo.addCommand(
    withSource(new Command('routes').summary("compute one router's OSPF routes from the database"))
      .requiredOption('--router <id>', "the router's OSPF router ID, e.g. 10.0.0.1")
      .addHelpText('after', '\nExample:\n  endsight topo routes --from ospf.pcap --router 0.0.0.3\n\nColumns: prefix, type (intra-area, inter-area, external-1, external-2), cost, type2_cost (external-2), area, next_hops (gateway@interface address; direct@… for attached networks)\n')
      .action((options: SourceOptions & { router: string }) => listRoutes(options)),
  );
  topo.addCommand(
    addMatrixOptions(withSource(new Command('links').summary('load every link with a traffic matrix: the top loaded links, now or over time')))
      .option('--every <duration>', 'with --flows or --nats: one set of loads per period of this length (e.g. 5m), oldest first')
      .option('--top <n>', 'how many links to show, most loaded first', '20')
      .option('--area <id>', 'the area whose paths are followed', '0.0.0.0')
      .option('--capacity <file>', 'link capacities: CSV with a header address,bps (a sending interface address, bits/s: 1000000000 or 1G); with --window')
      .option('--window <duration>', 'the time the matrix covers (e.g. 1h): bytes become bits/s for the utilisation (with --every: the period)')
      .addHelpText('after', [
        '',
        'Each pair follows the routers\' shortest paths, split evenly over equal-cost next hops; an address attaches to the',
        'router of the longest stub or LAN prefix that holds it (a LAN: its designated router). Columns: from, to (router IDs),',
        'via (p2p, or the LAN prefix), from_address (the sender\'s interface), bytes, share (of the bytes routed); with',
        '--capacity and --window also bps, capacity_bps and utilisation (bps over capacity), most utilised first. With --every, a',
        'first column period (its start) and --top links per period.',
        '',
        'The matrix: --matrix FILE, or built from flow records (docs/topo.md#the-traffic-matrix-from-flows): --flows reads this host\'s',
        'store, --nats asks every host of the fleet with one signed query (--sign-key, --target as for endsight query). A flow seen by',
        'both ends counts once (the larger of the sender\'s and the receiver\'s bytes); stderr says how many pairs one or both ends saw.',
        'From flows also: seen_by_both, seen_by_one (bytes of the load whose pair one or both ends saw), unseen_estimate (pairs',
        'between two uninstrumented endpoints, extrapolated), estimate (bytes + unseen_estimate) and error_bound (docs/topo.md).',
        '',
        'Example:',
        '  endsight topo links --from net.yaml --matrix matrix.csv --top 10',
        '  endsight topo links --from frr:/var/tmp/ospf --flows --since 1h --every 10m --top 5',
        '  endsight topo links --from frr:/var/tmp/ospf --nats nats://broker:4222 --sign-key authority.key --since 1h',
      ].join('\n'))
      .action((options: LinksOptions) => listLinks(options)),
  );
  topo.addCommand(
    addMatrixOptions(withSource(new Command('link').summary("click through one link: what crosses it, by source, destination, application, user or entry router")))
      .requiredOption('--link <from,to>', 'the link: sending and receiving router IDs (as topo links lists them), optionally @from_address when there are several')
      .option('--by <dimension>', `break the load down by ${BREAKDOWNS.join(', ')} (entry: the router where the traffic enters the network, the traceback)`, 'pair')
      .option('--top <n>', 'how many rows to show, most bytes first', '20')
      .option('--area <id>', 'the area whose paths are followed', '0.0.0.0')
      .addHelpText('after', [
        '',
        "Columns: the dimension's value (src, dst, app, user, entry; pair: src, dst, entry, exit), bytes (on this link), share",
        "(of the link's load), pairs (matrix rows contributing). A pair split over equal-cost paths counts with its share.",
        '',
        'Examples:',
        '  endsight topo link --from net.yaml --matrix matrix.csv --link 0.0.0.2,0.0.0.3 --by app',
        '  endsight topo link --from frr:/var/tmp/ospf --matrix m.csv --link 0.0.0.1,0.0.0.2@10.0.0.1 --by entry',
      ].join('\n'))
      .action((options: LinkOptions) => clickThrough(options)),
  );
  topo.addCommand(
    addMatrixOptions(withSource(new Command('tune').summary('traffic engineering: OSPF costs that lower the highest link utilisation, changing at most k')))
      .requiredOption('--capacity <file>', 'link capacities: CSV with a header address,bps (a sending interface address, bits/s)')
      .option('--window <duration>', 'the time the matrix covers (e.g. 1h); default: the --since duration')
      .option('--max-changes <k>', 'change the costs of at most this many interfaces', '3')
      .option('--targets <file>', 'per-link utilisation targets: CSV with a header address,target (e.g. 10.0.13.1,0.5); others 1')
      .option('--area <id>', 'the area whose paths are followed', '0.0.0.0')
      .option('--save <file>', 'write the changes as a what-if scenario (endsight whatif --scenario FILE)')
      .option('--frr', 'print the FRR commands that set the new costs instead of the table')
      .addHelpText('after', [
        '',
        'A local search: the most utilised link (over its target) is relieved by raising a cost on the way to it until another',
        'way ties (equal-cost split) or wins, or lowering another way\'s cost; each candidate is scored by routing the whole',
        'matrix again. Columns: router, address (the interface whose cost changes), toward (the neighbour or the LAN),',
        'before_cost, after_cost. stderr: the highest utilisation (over target) before and after, and the links over target.',
        '',
        'Examples:',
        '  endsight topo tune --from net.yaml --matrix m.csv --capacity caps.csv --window 1h --max-changes 2 --save tuned.yaml',
        '  endsight topo tune --from frr:/var/tmp/ospf --flows --since 1h --capacity caps.csv --frr',
      ].join('\n'))
      .action((options: TuneCliOptions) => tune(options)),
  );
  topo.addCommand(
    addMatrixOptions(withSource(new Command('top').summary('the most communicating hosts, sources, destinations, pairs, applications or users')))
      .option('--by <dimension>', `one of ${TOP_DIMENSION_NAMES.join(', ')} (host: bytes sent plus received)`, 'host')
      .option('--top <n>', 'how many rows', '20')
      .option('--area <id>', 'the area whose paths are followed', '0.0.0.0')
      .addHelpText('after', '\nColumns: the dimension (host; src; dst; src, dst; app; user), bytes, share (of all bytes in the matrix).\n\nExample:\n  endsight topo top --from frr:/var/tmp/ospf --flows --since 1h --by app --top 10\n')
      .action((options: TopCliOptions) => topTalkers(options)),
  );
  topo.addCommand(
    serveOptions(new Command('serve').summary('serve the network view as a JSON API over HTTP (for the console and scripts)'))
      .addHelpText('after', [
        '',
        'GET /api lists the endpoints: /api/links, /api/top, /api/link (click-through), /api/whatif, /api/routes; every answer is',
        'JSON, a wrong question a 400 or 404 with {"error": "..."}. docs/topo.md#the-json-api has every parameter and field.',
        '',
        'Example:',
        '  endsight topo serve --from frr:/var/tmp/ospf --flows --since 1h --refresh 5m',
        '  curl \'http://127.0.0.1:9470/api/link?from=0.0.0.2&to=0.0.0.3&by=app\'',
      ].join('\n'))
      .action((options: ServeCliOptions) => serve(options)),
  );
  return topo;
}

/** The options `topo serve` and `console` share: the network, the matrix, where to listen. */
function serveOptions(command: Command, sourceRequired = true): Command {
  return addMatrixOptions(withSource(command, sourceRequired))
    .option('--every <duration>', 'with --flows or --nats: also one view per period of this length (e.g. 10m): the console\'s time slider and sparklines')
    .option('--http <host:port>', 'where to listen (port 0: any free port)', '127.0.0.1:9470')
    .option('--refresh <duration>', 're-read the network and the matrix this often (e.g. 5m); default: never')
    .option('--capacity <file>', 'link capacities: CSV with a header address,bps; with --window (or --since) for utilisations')
    .option('--window <duration>', 'the time the matrix covers (default: the --since duration)')
    .option('--area <id>', 'the area whose paths are followed', '0.0.0.0');
}

/** `endsight console`: the web console over the network view, behind an access token (docs/console.md). */
export function consoleCommand(): Command {
  return serveOptions(new Command('console').summary('the web console: the network map, top links and talkers, click-through, what-if, queries, fleet, coverage'), false)
    .option('--token <token>', 'the access token the console and its API ask for (default: a random one, printed at start)')
    .option('--alerts <file>', "with --nats: standing queries with alert conditions (YAML: name, every, sql, alert[, target, webhook]) the console registers with the fleet and shows on its Alerts tab")
    .addHelpText('after', [
      '',
      'Open the URL it prints (it carries the token after #). The page draws from the JSON API of topo serve, which needs the token',
      '(Authorization: Bearer TOKEN). Listens on 127.0.0.1 unless --http says otherwise. docs/console.md describes the page.',
      '',
      'Without --from (and a matrix) the map is empty; the Query, Fleet and Coverage tabs work on the flows of --data-dir, or of the',
      'fleet with --nats. endsight up starts one so, beside the agent.',
      '',
      'Examples:',
      '  endsight console --from frr:/var/tmp/ospf --flows --since 1h --refresh 5m',
      '  endsight console --data-dir /var/lib/endsight',
    ].join('\n'))
    .action(async (options: ServeCliOptions & { token?: string; alerts?: string }) => {
      const { randomBytes } = await import('node:crypto');
      const { CONSOLE_PAGE } = await import('../../console/console-page.js');
      const token = options.token ?? randomBytes(18).toString('base64url');
      if (token.length < 8) throw new RangeError('Cannot use a --token shorter than 8 characters');
      if (options.alerts !== undefined && options.nats === undefined) throw new RangeError('Cannot watch --alerts without the fleet: standing queries need --nats (and --sign-key)');
      const { readAlertsFile } = await import('../../console/console-alerts.js');
      await serve(options, { page: CONSOLE_PAGE, token, alerts: options.alerts === undefined ? [] : readAlertsFile(options.alerts) });
    });
}

const TOP_DIMENSION_NAMES = ['host', 'src', 'dst', 'pair', 'app', 'user'];
type TopCliOptions = SourceOptions & MatrixOptions & { by: string; top: string; area: string };

async function topTalkers(options: TopCliOptions): Promise<void> {
  const top = Number(options.top);
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`Cannot use --top ${JSON.stringify(options.top)}: a whole number of at least 1`);
  const { NetworkView, TOP_DIMENSIONS } = await import('../../topo/network-view.js');
  const by = options.by as (typeof TOP_DIMENSIONS)[number];
  if (!TOP_DIMENSIONS.includes(by)) throw new RangeError(`Cannot rank --by ${JSON.stringify(options.by)}: use ${TOP_DIMENSIONS.join(', ')}`);
  const demands = [...(await loadMatrix(options)).periods.values()].flat();
  const { lsdb, nowMs } = await readSource(options);
  const rows = new NetworkView(lsdb, demands, options.area, nowMs).top(by, top);
  const keyNames = by === 'pair' ? ['src', 'dst'] : [by];
  const columns = [...keyNames.map((name) => ({ name, type: 'VARCHAR' })), { name: 'bytes', type: 'DOUBLE' }, { name: 'share', type: 'DOUBLE' }];
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(columns, rows.map((r) => [...keyNames.map((k) => r.key[k] ?? null), r.bytes, r.share]));
  writer.end();
}

type ServeCliOptions = SourceOptions & MatrixOptions & { http: string; refresh?: string; capacity?: string; window?: string; area: string; every?: string };

async function serve(options: ServeCliOptions, consolePage?: { page: string; token: string; alerts: import('../../console/console-alerts.js').AlertSpec[] }): Promise<void> {
  const { parseDurationMs } = await import('../../common/duration.js');
  const refreshMs = options.refresh === undefined ? null : parseDurationMs(options.refresh, '--refresh');
  if (refreshMs !== null && !(refreshMs >= 1000)) throw new RangeError(`Cannot use --refresh ${JSON.stringify(options.refresh)}: at least 1 s`);
  const windowText = options.window ?? options.since;
  if (options.capacity !== undefined && windowText === undefined) throw new RangeError('Cannot turn bytes into utilisation without the time the matrix covers: give --window (or --since)');
  const capacity = options.capacity === undefined ? null : { bps: await readCapacities(options.capacity), windowS: parseDurationMs(windowText!, options.window === undefined ? '--since' : '--window') / 1000 };
  const { NetworkView } = await import('../../topo/network-view.js');
  const { serveNetworkView } = await import('./topo-serve.js');
  const periodS = options.every === undefined ? null : parseDurationMs(options.every, '--every') / 1000;
  if (periodS !== null && !(periodS >= 1)) throw new RangeError(`Cannot use --every ${JSON.stringify(options.every)}: a period of at least 1 s`);
  // Utilisation per period: the bytes of one period over its length.
  const periodCapacity = capacity && periodS !== null ? { ...capacity, windowS: periodS } : capacity;
  const load = async (): Promise<import('./topo-serve.js').ServedNetwork> => {
    if (options.from === undefined) {
      // A console without a network (endsight up): an empty map; the flow pages answer from the store or the fleet.
      if (options.matrix !== undefined || options.flows === true) throw new RangeError('Cannot map a traffic matrix without the network: give --from too');
      const { LinkStateDatabase } = await import('../../topo/ospf/lsdb.js');
      return { view: new NetworkView(new LinkStateDatabase(), [], options.area, Date.now(), capacity), periods: [] };
    }
    const matrix = await loadMatrix(options, periodS);
    const { lsdb, nowMs } = await readSource(options);
    const view = new NetworkView(lsdb, [...matrix.periods.values()].flat(), options.area, nowMs, capacity);
    const periods = periodS === null ? [] : [...matrix.periods].map(([name, demands]) => ({ name, view: new NetworkView(lsdb, demands, options.area, nowMs, periodCapacity) }));
    return { view, periods };
  };
  const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  // The console's query page asks the fleet when there is one (--nats), else this store.
  const { consoleQueryHandler, sharedCoordinator } = await import('../../console/console-query.js');
  const connectFleet = sharedCoordinator(options);
  const query = consolePage ? consoleQueryHandler(options.dataDir, options, connectFleet) : undefined;
  let alerts: import('../../console/console-alerts.js').ConsoleAlerts | undefined;
  if (consolePage && consolePage.alerts.length > 0) {
    const { ConsoleAlerts } = await import('../../console/console-alerts.js');
    const { fleetAskSettings } = await import('../nats-cli-options.js');
    alerts = new ConsoleAlerts(consolePage.alerts, async (spec, callbacks) => {
      const asked = { ...(options as unknown as import('../fleet-ask.js').FleetAskOptions), target: spec.target };
      const settings = await fleetAskSettings(asked, spec.sql);
      return (await connectFleet(settings.tls)).watch(asked, settings, { id: `console-${spec.name}`, periodMs: spec.periodMs, alert: spec.alert, webhook: spec.webhook }, callbacks);
    });
  }
  const server = await serveNetworkView(load, { http: options.http, refreshMs, page: consolePage?.page, token: consolePage?.token, query, alerts, fleet: options.nats !== undefined }, log);
  if (consolePage) log(`the console is on ${server.url}/#token=${consolePage.token} (Ctrl-C stops)`);
  else log(`serving the network view on ${server.url}/api (Ctrl-C stops)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await alerts?.stop();
  await server.close();
}

type TuneCliOptions = SourceOptions & MatrixOptions & { capacity: string; window?: string; maxChanges: string; targets?: string; area: string; save?: string; frr?: boolean };

async function tune(options: TuneCliOptions): Promise<void> {
  const maxChanges = Number(options.maxChanges);
  if (!Number.isInteger(maxChanges) || maxChanges < 1) throw new RangeError(`Cannot use --max-changes ${JSON.stringify(options.maxChanges)}: a whole number of at least 1`);
  const { parseDurationMs } = await import('../../common/duration.js');
  const windowText = options.window ?? options.since;
  if (windowText === undefined) throw new RangeError('Cannot turn bytes into utilisation without the time the matrix covers: give --window (or --since)');
  const windowS = parseDurationMs(windowText, options.window === undefined ? '--since' : '--window') / 1000;
  if (!(windowS > 0)) throw new RangeError(`Cannot use --window ${JSON.stringify(windowText)}: it must be longer than zero`);
  const capacities = await readCapacities(options.capacity);
  const targets = options.targets === undefined ? undefined : await readTargets(options.targets);
  const demands = [...(await loadMatrix(options)).periods.values()].flat();
  const { lsdb, nowMs } = await readSource(options);
  const { NetworkModel } = await import('../../topo/network-model.js');
  const { tuneCosts, frrCommands } = await import('../../topo/traffic-engineering.js');
  const result = tuneCosts(NetworkModel.fromLsdb(lsdb, options.area, nowMs), demands, { capacities, windowS, maxChanges, targets });
  const describe = (score: typeof result.before, worst: string | null): string =>
    `highest utilisation ${score.maxUtilisation.toFixed(3)}${targets ? `, ${score.worst.toFixed(3)} of its target` : ''} (${worst ?? 'no link with a capacity'}), ${score.linksOverTarget} links over target`;
  process.stderr.write(`before: ${describe(result.before, result.worstBefore)}\nafter ${result.changes.length} changes (${result.steps} search steps): ${describe(result.after, result.worstAfter)}\n`);
  if (options.save !== undefined) {
    const { scenarioYaml } = await import('../../topo/scenario-file.js');
    const { writeFile } = await import('node:fs/promises');
    const path = await import('node:path');
    await writeFile(options.save, scenarioYaml({ name: path.basename(options.save).replace(/\.ya?ml$/i, ''), steps: result.changes.map((c) => ({ kind: 'cost', from: c.router, to: c.toward, cost: c.after })) }));
    process.stderr.write(`saved the changes as a scenario to ${options.save}\n`);
  }
  if (options.frr) {
    process.stdout.write(frrCommands(result.changes));
    return;
  }
  const columns = ['router', 'address', 'toward', 'before_cost', 'after_cost'].map((name) => ({ name, type: name.endsWith('cost') ? 'INTEGER' : 'VARCHAR' }));
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(columns, result.changes.map((c) => [c.router, c.address, c.toward, c.before, c.after]));
  writer.end();
}

/** Utilisation targets by sending interface address. */
async function readTargets(file: string): Promise<Map<string, number>> {
  const { readCsvFile } = await import('./topo-inputs.js');
  const rows = await readCsvFile(file, '--targets', ['address,target'], 'address,target such as 10.0.0.1,0.5', ([address, target]) => {
    const value = Number(target);
    return /^\d{1,3}(\.\d{1,3}){3}$/.test(address) && value > 0 ? ([address, value] as const) : null;
  });
  return new Map(rows);
}

const BREAKDOWNS = ['pair', 'src', 'dst', 'app', 'user', 'entry'] as const;
type LinkOptions = SourceOptions & MatrixOptions & { link: string; by: string; top: string; area: string };

async function clickThrough(options: LinkOptions): Promise<void> {
  const top = Number(options.top);
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`Cannot use --top ${JSON.stringify(options.top)}: a whole number of at least 1`);
  const by = options.by as (typeof BREAKDOWNS)[number];
  if (!BREAKDOWNS.includes(by)) throw new RangeError(`Cannot break down --by ${JSON.stringify(options.by)}: use ${BREAKDOWNS.join(', ')}`);
  const match = /^(\d{1,3}(?:\.\d{1,3}){3}),(\d{1,3}(?:\.\d{1,3}){3})(?:@(\d{1,3}(?:\.\d{1,3}){3}))?$/.exec(options.link.trim());
  if (!match) throw new RangeError(`Cannot read --link ${JSON.stringify(options.link)}: expected FROM,TO router IDs, e.g. 0.0.0.2,0.0.0.3 (or FROM,TO@FROM_ADDRESS)`);
  const demands = [...(await loadMatrix(options)).periods.values()].flat();
  const { lsdb, nowMs } = await readSource(options);
  const { NetworkModel } = await import('../../topo/network-model.js');
  const { demandsOnLink } = await import('../../topo/link-loads.js');
  const model = NetworkModel.fromLsdb(lsdb, options.area, nowMs);
  const edges = model.edgeList.filter((e) => model.ids[e.from] === match[1] && model.ids[e.to] === match[2] && (match[3] === undefined || e.fromAddress === match[3]));
  if (edges.length === 0) throw new RangeError(`Cannot click through ${options.link}: no link from ${match[1]} to ${match[2]}${match[3] ? ` at ${match[3]}` : ''} in area ${options.area} (topo links lists them)`);
  if (edges.length > 1) throw new RangeError(`Cannot click through ${options.link}: ${edges.length} links from ${match[1]} to ${match[2]}; add @FROM_ADDRESS, one of ${edges.map((e) => e.fromAddress).join(', ')}`);
  const shares = demandsOnLink(model, demands, edges[0]);
  const total = shares.reduce((sum, s) => sum + s.bytes, 0);
  const keyOf = (s: (typeof shares)[number]): string[] =>
    by === 'pair' ? [s.demand.src, s.demand.dst, s.entry, s.exit]
    : by === 'src' ? [s.demand.src] : by === 'dst' ? [s.demand.dst] : by === 'entry' ? [s.entry]
    : [(by === 'app' ? s.demand.app : s.demand.user) ?? '(unknown)'];
  const groups = new Map<string, { key: string[]; bytes: number; pairs: number }>();
  for (const share of shares) {
    const key = keyOf(share);
    const id = key.join('\u0000');
    const group = groups.get(id) ?? { key, bytes: 0, pairs: 0 };
    group.bytes += share.bytes;
    group.pairs++;
    groups.set(id, group);
  }
  process.stderr.write(`${match[1]}>${match[2]} ${edges[0].via} ${edges[0].fromAddress}: ${Math.round(total)} bytes from ${shares.length} of ${demands.length} pairs\n`);
  const keyNames = by === 'pair' ? ['src', 'dst', 'entry', 'exit'] : [by];
  const columns = [...keyNames.map((name) => ({ name, type: 'VARCHAR' })), { name: 'bytes', type: 'DOUBLE' }, { name: 'share', type: 'DOUBLE' }, { name: 'pairs', type: 'INTEGER' }];
  const rows = [...groups.values()]
    .sort((a, b) => b.bytes - a.bytes || (a.key.join() < b.key.join() ? -1 : 1))
    .slice(0, top)
    .map((g) => [...g.key, Math.round(g.bytes * 1000) / 1000, total > 0 ? Number((g.bytes / total).toFixed(4)) : 0, g.pairs]);
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(columns, rows);
  writer.end();
}

type LinksOptions = SourceOptions & MatrixOptions & { top: string; area: string; capacity?: string; window?: string; every?: string };

async function listLinks(options: LinksOptions): Promise<void> {
  const top = Number(options.top);
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`Cannot use --top ${JSON.stringify(options.top)}: a whole number of at least 1`);
  const { parseDurationMs } = await import('../../common/duration.js');
  const periodS = options.every === undefined ? null : parseDurationMs(options.every, '--every') / 1000;
  if (periodS !== null && !(periodS >= 1)) throw new RangeError(`Cannot use --every ${JSON.stringify(options.every)}: a period of at least 1 s`);
  if (options.capacity !== undefined && options.window === undefined && periodS === null) throw new RangeError('Cannot compute utilisation without the time the matrix covers: give --window (or --every)');
  if (options.window !== undefined && options.capacity === undefined) throw new RangeError('Cannot use --window without --capacity: it turns bytes into a utilisation');
  const windowS = options.window === undefined ? periodS : parseDurationMs(options.window, '--window') / 1000;
  if (windowS !== null && !(windowS > 0)) throw new RangeError(`Cannot use --window ${JSON.stringify(options.window)}: it must be longer than zero`);
  const capacities = options.capacity === undefined ? null : await readCapacities(options.capacity);
  const matrix = await loadMatrix(options, periodS);
  reportCoverage(matrix.coverage);
  const { lsdb, nowMs } = await readSource(options);
  const { NetworkModel } = await import('../../topo/network-model.js');
  const { routeDemands } = await import('../../topo/link-loads.js');
  const model = NetworkModel.fromLsdb(lsdb, options.area, nowMs);
  const { linkAccuracy } = await import('../../topo/link-accuracy.js');
  const { linkKey } = await import('../../topo/link-loads.js');
  const accuracyColumns = matrix.coverage ? ['seen_by_both', 'seen_by_one', 'unseen_estimate', 'estimate', 'error_bound'] : [];
  const names = [...(periodS !== null ? ['period'] : []), 'from', 'to', 'via', 'from_address', 'bytes', 'share', ...(capacities ? ['bps', 'capacity_bps', 'utilisation'] : []), ...accuracyColumns];
  const columns = names.map((name) => ({ name, type: ['period', 'from', 'to', 'via', 'from_address'].includes(name) ? 'VARCHAR' : 'DOUBLE' }));
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  let missing = 0;
  for (const [period, demands] of matrix.periods) {
    const result = routeDemands(model, demands);
    const unrouted = Object.entries(result.unrouted);
    process.stderr.write(
      `${period ? `${period}: ` : ''}${demands.length} pairs: ${Math.round(result.routedBytes)} bytes routed, ${Math.round(result.localBytes)} between endpoints of one router` +
        (unrouted.length > 0 ? `; not routed: ${unrouted.map(([why, n]) => `${Math.round(n)} bytes ${why}`).join(', ')}` : '') + '\n',
    );
    const rows = result.links.map((l) => {
      const row: (string | number | null)[] = [l.from, l.to, l.via, l.fromAddress, l.bytes, result.routedBytes > 0 ? Number((l.bytes / result.routedBytes).toFixed(4)) : 0];
      if (capacities && windowS !== null) {
        const bps = (l.bytes * 8) / windowS;
        const capacity = capacities.get(l.fromAddress) ?? null;
        row.push(Number(bps.toFixed(1)), capacity, capacity === null ? null : Number((bps / capacity).toFixed(4)));
      }
      return row;
    });
    // From flows: how much of each link's load one or both ends saw, the unseen estimate and the bound (link-accuracy.ts).
    if (matrix.coverage) {
      const accuracy = new Map(linkAccuracy(model, demands, matrix.coverage.instrumentedFraction).map((a) => [linkKey(a), a]));
      result.links.forEach((l, i) => {
        const a = accuracy.get(linkKey(l))!;
        rows[i].push(...[a.seenByBoth, a.seenByOne, a.unseenEstimate, a.estimate, a.errorBound].map((x) => Math.round(x)));
      });
    }
    // With capacities, the most utilised links first (links without a capacity after them, by bytes).
    if (capacities) rows.sort((a, b) => ((b[8] as number | null) ?? -1) - ((a[8] as number | null) ?? -1) || (b[4] as number) - (a[4] as number));
    missing = Math.max(missing, capacities ? result.links.filter((l) => !capacities.has(l.fromAddress)).length : 0);
    writer.rows(columns, rows.slice(0, top).map((row) => (periodS !== null ? [period, ...row] : row)));
  }
  if (missing > 0) process.stderr.write(`${missing} loaded links have no capacity in ${options.capacity}: their utilisation is empty\n`);
  writer.end();
}

/** From flows: how many pairs one or both ends saw, and how far the two views disagree. */
function reportCoverage(coverage: import('../../topo/flow-matrix.js').MatrixCoverage | null): void {
  if (coverage === null) return;
  const c = coverage;
  process.stderr.write(
    `traffic matrix from flows: ${c.pairs} pairs, ${Math.round(c.bytes)} bytes; seen by both ends ${c.seenByBoth}, by the sender only ${c.seenBySenderOnly}, ` +
      `by the receiver only ${c.seenByReceiverOnly}; the two ends disagree by ${Math.round(c.disagreementBytes)} bytes\n`,
  );
}

async function listDatabase(options: SourceOptions & { area?: string }): Promise<void> {
  const { lsdb, nowMs } = await readSource(options);
  const rows = lsdb
    .entries(nowMs)
    .filter((e) => options.area === undefined || e.scope === options.area || e.scope === 'as')
    .map(({ scope, lsa, age }) => [
      scope, TYPE_NAMES[lsa.header.type] ?? String(lsa.header.type), lsa.header.linkStateId, lsa.header.advertisingRouter,
      (lsa.header.sequence >>> 0).toString(16), age, lsa.header.checksum.toString(16).padStart(4, '0'), lsa.header.length,
    ]);
  const columns = ['area', 'type', 'lsid', 'adv_router', 'seq', 'age', 'checksum', 'length'].map((name) => ({ name, type: name === 'age' || name === 'length' ? 'INTEGER' : 'VARCHAR' }));
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(columns, rows);
  writer.end();
}

async function listRoutes(options: SourceOptions & { router: string }): Promise<void> {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(options.router)) throw new RangeError(`Cannot use --router ${JSON.stringify(options.router)}: a router ID is a dotted quad such as 10.0.0.1`);
  const { lsdb, nowMs } = await readSource(options);
  const { computeRoutes } = await import('../../topo/ospf/spf.js');
  const table = computeRoutes(lsdb, options.router, nowMs);
  if (table.networks.length === 0 && !lsdb.areas().some((area) => lsdb.lsas(area, nowMs).some((l) => l.header.type === 1 && l.header.advertisingRouter === options.router))) {
    throw new RangeError(`Cannot compute routes for ${options.router}: the database has no router-LSA of it (topo lsdb lists the routers it has)`);
  }
  const columns = ['prefix', 'type', 'cost', 'type2_cost', 'area', 'next_hops'].map((name) => ({ name, type: name.includes('cost') ? 'INTEGER' : 'VARCHAR' }));
  const rows = table.networks.map((r) => [
    r.prefix, r.pathType, r.cost, r.type2Cost, r.area,
    options.format === 'json' ? r.nextHops.map((h) => ({ gateway: h.gateway, interface_address: h.interfaceAddress })) : r.nextHops.map((h) => `${h.gateway ?? 'direct'}@${h.interfaceAddress}`).join(' '),
  ]);
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(columns, rows as import('../../query/index.js').CellValue[][]);
  writer.end();
}
