/** `endsight whatif`: the network after links, routers or costs change and addresses move (docs/topo.md). */
import path from 'node:path';
import { Command } from 'commander';
import { repeatable } from '../common-options.js';
import type { CellValue } from '../../query/index.js';
import { ResultWriter, type OutputFormat } from '../output.js';
import { addListenOptions, addMatrixOptions, loadMatrix, readCapacities, readSource, type MatrixOptions, type SourceOptions } from './topo-inputs.js';

interface WhatIfOptions extends SourceOptions, MatrixOptions {
  area: string;
  scenario: string[];
  linkDown: string[];
  routerDown: string[];
  cost: string[];
  move: string[];
  name?: string;
  save?: string;
  capacity?: string;
  window?: string;
  threshold: string;
  top: string;
  routesOf?: string;
}

export function whatifCommand(): Command {
  const command = new Command('whatif')
    .summary('what happens to routes and link loads if links, routers or costs change, or addresses move')
    .description(
      'Applies a scenario to the network read from --from (the same sources as `endsight topo`) and routes the traffic matrix ' +
        'before and after: the change on every link, the most changed first, and with capacities the links over --threshold. ' +
        'Steps come from the command line (--link-down, --router-down, --cost, --move, applied in that order) or from ' +
        'scenario files (--scenario, several to compare them side by side). --save writes the command line\'s steps as a scenario file.',
    )
    .requiredOption('--from <source>', 'a capture file of OSPF packets, if:NAME (listen on an interface), frr:DIR, or a topology FILE.yaml');
  addListenOptions(command)
    .option('--area <id>', 'the area whose paths are followed', '0.0.0.0')
    .option('--scenario <file>', 'a scenario file (YAML, docs/topo.md); repeat to compare several', repeatable, [])
    .option('--link-down <a,b>', 'a point-to-point link down (two router IDs), or a router off a LAN (ROUTER,PREFIX); repeatable', repeatable, [])
    .option('--router-down <id>', 'a router down; repeatable', repeatable, [])
    .option('--cost <from,to=cost>', "set a router's outgoing cost to a neighbour or a LAN, e.g. 0.0.0.1,0.0.0.2=50; repeatable", repeatable, [])
    .option('--move <prefixes=router>', 'attach addresses or prefixes to another router, e.g. 10.1.0.25+10.1.0.26=0.0.0.3; repeatable', repeatable, [])
    .option('--name <name>', "the name of the command line's scenario (default: the --save file's name, or 'command line')")
    .option('--save <file>', "write the command line's steps to this scenario file")
    .option('--capacity <file>', 'link capacities: CSV with a header address,bps; with --window')
    .option('--window <duration>', 'the time the matrix covers (e.g. 1h): bytes become bits/s for the utilisation')
    .option('--threshold <fraction>', 'utilisation above which a link is flagged (with --capacity)', '0.8')
    .option('--top <n>', 'how many links to show', '20')
    .option('--routes-of <router>', "show this router's routes that change instead of the links")
    .option('--format <format>', 'output: table, json, csv', 'table')
    .addHelpText('after', [
      '',
      'Columns (one scenario): from, to, via, from_address (the link, as in topo links), before_bytes, after_bytes, change_bytes;',
      'with --capacity and --window also before_utilisation, after_utilisation and over (after above --threshold).',
      'Columns (several scenarios): scenario, steps, routed_bytes, unrouted_bytes, changed_links, busiest_link, busiest_bytes;',
      'with capacities also max_utilisation and links_over. The first row is the network as it is.',
      'Columns (--routes-of): prefix, before_cost, after_cost, before_next_hops, after_next_hops (unreachable: empty).',
      '',
      'Examples:',
      '  endsight whatif --from net.yaml --matrix matrix.csv --link-down 0.0.0.1,0.0.0.3',
      '  endsight whatif --from frr:/var/tmp/ospf --matrix m.csv --move 10.1.0.25=0.0.0.3 --save mail-at-r3.yaml',
      '  endsight whatif --from net.yaml --matrix m.csv --scenario a.yaml --scenario b.yaml --capacity caps.csv --window 1h',
    ].join('\n'))
    .action((options: WhatIfOptions) => runWhatIf(options));
  return addMatrixOptions(command);
}

async function runWhatIf(options: WhatIfOptions): Promise<void> {
  const { parseStep, applySteps, describeStep, WhatIfError } = await import('../../topo/whatif.js');
  const { readScenarioFile, scenarioYaml } = await import('../../topo/scenario-file.js');
  const { NetworkModel } = await import('../../topo/network-model.js');
  const { routeDemands, linkKey } = await import('../../topo/link-loads.js');
  type Scenario = import('../../topo/whatif.js').Scenario;
  const top = Number(options.top);
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`Cannot use --top ${JSON.stringify(options.top)}: a whole number of at least 1`);
  const threshold = Number(options.threshold);
  if (!(threshold > 0)) throw new RangeError(`Cannot use --threshold ${JSON.stringify(options.threshold)}: a fraction above 0, e.g. 0.8`);
  if ((options.capacity === undefined) !== (options.window === undefined)) throw new RangeError('Cannot compute utilisation with only one of --capacity and --window: give both');
  const { parseDurationMs } = await import('../../common/duration.js');
  const windowS = options.window === undefined ? null : parseDurationMs(options.window, '--window') / 1000;
  if (windowS !== null && !(windowS > 0)) throw new RangeError(`Cannot use --window ${JSON.stringify(options.window)}: it must be longer than zero`);

  const asRange = <T>(f: () => T): T => {
    try {
      return f();
    } catch (error) {
      throw error instanceof WhatIfError ? new RangeError(error.message) : error;
    }
  };
  const inline: Scenario = asRange(() => ({
    name: options.name ?? (options.save === undefined ? 'command line' : path.basename(options.save).replace(/\.ya?ml$/i, '')),
    steps: [
      ...options.linkDown.map((t) => parseStep('link-down', t)),
      ...options.routerDown.map((t) => parseStep('router-down', t)),
      ...options.cost.map((t) => parseStep('cost', t)),
      ...options.move.map((t) => parseStep('move', t)),
    ],
  }));
  const scenarios: Scenario[] = asRange(() => options.scenario.map(readScenarioFile));
  if (inline.steps.length > 0) scenarios.push(inline);
  if (scenarios.length === 0) throw new RangeError('Cannot run a what-if without steps: give --link-down, --router-down, --cost, --move or --scenario FILE');
  if (options.save !== undefined) {
    if (inline.steps.length === 0) throw new RangeError('Cannot --save without steps on the command line (--link-down, --router-down, --cost, --move)');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(options.save, scenarioYaml(inline));
    process.stderr.write(`saved the scenario "${inline.name}" (${inline.steps.length} steps) to ${options.save}\n`);
  }

  const capacities = options.capacity === undefined ? null : await readCapacities(options.capacity);
  const demands = [...(await loadMatrix(options)).periods.values()].flat();
  const { lsdb, nowMs } = await readSource(options);
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  const utilisation = (bytes: number, address: string): number | null => {
    const capacity = capacities?.get(address);
    return capacity === undefined || windowS === null ? null : Number(((bytes * 8) / windowS / capacity).toFixed(4));
  };

  const baseModel = NetworkModel.fromLsdb(lsdb, options.area, nowMs);
  const before = routeDemands(baseModel, demands);
  const outcomes = scenarios.map((scenario) => {
    const changed = asRange(() => applySteps(lsdb, scenario.steps, nowMs));
    const after = routeDemands(NetworkModel.fromLsdb(changed.lsdb, options.area, nowMs, changed.moved), demands);
    return { scenario, changed, after };
  });

  if (options.routesOf !== undefined) {
    const { computeRoutes } = await import('../../topo/ospf/spf.js');
    const router = options.routesOf;
    const hops = (r: import('../../topo/ospf/spf.js').Route | undefined): string => r?.nextHops.map((h) => `${h.gateway ?? 'direct'}@${h.interfaceAddress}`).join(' ') ?? '';
    const old = new Map(computeRoutes(lsdb, router, nowMs).networks.map((r) => [r.prefix, r]));
    const columns = ['scenario', 'prefix', 'before_cost', 'after_cost', 'before_next_hops', 'after_next_hops'].map((name) => ({ name, type: name.endsWith('cost') ? 'INTEGER' : 'VARCHAR' }));
    const rows: CellValue[][] = [];
    for (const { scenario, changed } of outcomes) {
      const now = new Map(computeRoutes(changed.lsdb, router, nowMs).networks.map((r) => [r.prefix, r]));
      for (const prefix of [...new Set([...old.keys(), ...now.keys()])].sort()) {
        const a = old.get(prefix);
        const b = now.get(prefix);
        if (a?.cost === b?.cost && hops(a) === hops(b)) continue;
        rows.push([scenario.name, prefix, a?.cost ?? null, b?.cost ?? null, hops(a), hops(b)]);
      }
    }
    writer.rows(columns, rows);
    writer.end();
    return;
  }

  const unroutedBytes = (r: typeof before): number => Object.values(r.unrouted).reduce((a, b) => a + b, 0);
  const report = (label: string, r: typeof before): string =>
    `${label}: ${Math.round(r.routedBytes)} bytes routed, ${Math.round(unroutedBytes(r))} not routed${Object.keys(r.unrouted).length > 0 ? ` (${Object.entries(r.unrouted).map(([k, n]) => `${Math.round(n)} ${k}`).join(', ')})` : ''}`;
  process.stderr.write(`${demands.length} pairs. ${report('now', before)}\n`);

  if (outcomes.length > 1) {
    const names = ['scenario', 'steps', 'routed_bytes', 'unrouted_bytes', 'changed_links', 'busiest_link', 'busiest_bytes', ...(capacities ? ['max_utilisation', 'links_over'] : [])];
    const columns = names.map((name) => ({ name, type: ['scenario', 'steps', 'busiest_link'].includes(name) ? 'VARCHAR' : 'DOUBLE' }));
    const row = (name: string, steps: string, r: typeof before): CellValue[] => {
      const busiest = r.links[0];
      const was = new Map(before.links.map((l) => [linkKey(l), l.bytes]));
      const keys = new Set([...was.keys(), ...r.links.map(linkKey)]);
      const now = new Map(r.links.map((l) => [linkKey(l), l.bytes]));
      const changedLinks = [...keys].filter((k) => Math.abs((now.get(k) ?? 0) - (was.get(k) ?? 0)) > 1e-6).length;
      const cells: CellValue[] = [name, steps, Math.round(r.routedBytes), Math.round(unroutedBytes(r)), changedLinks, busiest ? `${busiest.from}>${busiest.to} ${busiest.via} ${busiest.fromAddress}` : null, busiest ? Math.round(busiest.bytes) : null];
      if (capacities) {
        const used = r.links.map((l) => utilisation(l.bytes, l.fromAddress)).filter((u): u is number => u !== null);
        cells.push(used.length > 0 ? Math.max(...used) : null, used.filter((u) => u > threshold).length);
      }
      return cells;
    };
    writer.rows(columns, [row('(now)', '', before), ...outcomes.map((o) => row(o.scenario.name, o.scenario.steps.map(describeStep).join('; '), o.after))]);
    writer.end();
    return;
  }

  const { scenario, after } = outcomes[0];
  process.stderr.write(`${report(`scenario "${scenario.name}" (${scenario.steps.map(describeStep).join('; ')})`, after)}\n`);
  const links = new Map<string, { link: (typeof before.links)[number]; before: number; after: number }>();
  for (const l of before.links) links.set(linkKey(l), { link: l, before: l.bytes, after: 0 });
  for (const l of after.links) {
    const held = links.get(linkKey(l));
    if (held) held.after = l.bytes;
    else links.set(linkKey(l), { link: l, before: 0, after: l.bytes });
  }
  const names = ['from', 'to', 'via', 'from_address', 'before_bytes', 'after_bytes', 'change_bytes', ...(capacities ? ['before_utilisation', 'after_utilisation', 'over'] : [])];
  const columns = names.map((name) => ({ name, type: ['from', 'to', 'via', 'from_address'].includes(name) ? 'VARCHAR' : name === 'over' ? 'BOOLEAN' : 'DOUBLE' }));
  const rows = [...links.values()]
    .sort((a, b) => Math.abs(b.after - b.before) - Math.abs(a.after - a.before) || b.after - a.after)
    .map(({ link, before: was, after: now }) => {
      const cells: CellValue[] = [link.from, link.to, link.via, link.fromAddress, round(was), round(now), round(now - was)];
      if (capacities) {
        const u = utilisation(now, link.fromAddress);
        cells.push(utilisation(was, link.fromAddress), u, u === null ? null : u > threshold);
      }
      return cells;
    });
  if (capacities) {
    const over = rows.filter((r) => r[9] === true);
    process.stderr.write(over.length === 0 ? `no link over ${threshold} utilisation after the change\n` : `${over.length} links over ${threshold} utilisation after the change: ${over.map((r) => `${r[0]}>${r[1]} (${r[8]})`).join(', ')}\n`);
  }
  writer.rows(columns, rows.slice(0, top));
  writer.end();
}

function round(bytes: number): number {
  return Math.round(bytes * 1000) / 1000;
}
