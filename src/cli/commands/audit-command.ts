/** `endsight audit`: who used a subnet, an address or a link, with bytes and times (docs/crosscheck.md#endsight-audit). */
import { Command } from 'commander';
import { addDataDirOption, addWindowOptions } from '../common-options.js';
import { addFleetAskOptions, type FleetAskCliOptions } from '../nats-cli-options.js';
import { ResultWriter, type OutputFormat } from '../output.js';

interface AuditOptions extends Partial<FleetAskCliOptions> {
  subnet?: string;
  address?: string;
  link?: string;
  topology?: string;
  dataDir: string;
  via: string;
  top: string;
  format: string;
  since?: string;
  between?: string;
}

export function auditCommand(): Command {
  const command = new Command('audit')
    .summary('who used a subnet, an address or a link: hosts, users, processes and applications, with bytes and times')
    .description(
      'Network auditing: every flow to or from --subnet (CIDR) or --address, grouped by reporting host, user, process and application, ' +
        'with bytes, flows and the first and last time, from this store or the fleet (--nats, one signed query). --link FROM,TO ' +
        '(with --topology, as endsight topo --from) routes the flows\' traffic matrix over the network instead and lists what crosses the link.',
    )
    .option('--subnet <cidr>', 'flows to or from this prefix, e.g. 10.1.0.0/16')
    .option('--address <addr>', 'flows to or from this address')
    .option('--link <from,to>', 'traffic over this link (router IDs), with --topology')
    .option('--topology <source>', 'with --link: a topology file, frr:DIR or an OSPF capture')
    .option('--nats <url>', "the fleet's flows: one signed query to every host over this NATS server")
    .option('--via <path>', 'with --nats: hosts or sites', 'hosts')
    .option('--top <n>', 'how many rows, most bytes first', '50')
    .option('--format <format>', 'table, csv or json', 'table')
    .addHelpText('after', [
      '',
      'Columns (subnet, address): host (the reporting host), username, process, app (protocol and the lower port), bytes, flows,',
      'first, last. Columns (link): src, app, user, bytes (on the link), pairs.',
      '',
      'Examples:',
      '  endsight audit --subnet 10.20.0.0/16 --since 4w',
      '  endsight audit --address 198.51.100.7 --nats nats://coordinator:secret@broker:4222 --sign-key authority.key --since 2w',
      '  endsight audit --link 0.0.0.2,0.0.0.3 --topology frr:/var/tmp/ospf --since 1d',
    ].join('\n'));
  addWindowOptions(command);
  addDataDirOption(command);
  addFleetAskOptions(command);
  return command.action((options: AuditOptions) => runAudit(options));
}

async function runAudit(options: AuditOptions): Promise<void> {
  if (!['table', 'csv', 'json'].includes(options.format)) throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: use table, csv or json`);
  const top = Number(options.top);
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`Cannot use --top ${JSON.stringify(options.top)}: a whole number of at least 1`);
  const given = [options.subnet, options.address, options.link].filter((x) => x !== undefined).length;
  if (given !== 1) throw new RangeError('Cannot audit without one subject: give exactly one of --subnet CIDR, --address ADDR and --link FROM,TO');
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  if (options.link !== undefined) {
    if (options.topology === undefined) throw new RangeError('Cannot audit a link without the network: give --topology (a topology file, frr:DIR or an OSPF capture)');
    const match = /^(\d{1,3}(?:\.\d{1,3}){3}),(\d{1,3}(?:\.\d{1,3}){3})$/.exec(options.link.trim());
    if (!match) throw new RangeError(`Cannot read --link ${JSON.stringify(options.link)}: expected FROM,TO router IDs such as 0.0.0.2,0.0.0.3`);
    const { loadMatrix, readSource } = await import('./topo-inputs.js');
    const matrix = await loadMatrix({ ...options, flows: options.nats === undefined, nats: options.nats } as Parameters<typeof loadMatrix>[0]);
    const demands = [...matrix.periods.values()].flat();
    const { lsdb, nowMs } = await readSource({ from: options.topology, format: 'table' });
    const { NetworkModel } = await import('../../topo/network-model.js');
    const { demandsOnLink } = await import('../../topo/link-loads.js');
    const model = NetworkModel.fromLsdb(lsdb, '0.0.0.0', nowMs);
    const edges = model.edgeList.filter((e) => model.ids[e.from] === match[1] && model.ids[e.to] === match[2]);
    if (edges.length === 0) throw new RangeError(`Cannot audit ${options.link}: no link from ${match[1]} to ${match[2]} (topo links lists them)`);
    // Every link from FROM to TO (parallel links and LANs together), grouped by source, application and user.
    const rows = new Map<string, { src: string; app: string | null; user: string | null; bytes: number; pairs: number }>();
    for (const edge of edges) {
      for (const share of demandsOnLink(model, demands, edge)) {
        const key = `${share.demand.src}\u0000${share.demand.app ?? ''}\u0000${share.demand.user ?? ''}`;
        const row = rows.get(key) ?? { src: share.demand.src, app: share.demand.app ?? null, user: share.demand.user ?? null, bytes: 0, pairs: 0 };
        row.bytes += share.bytes;
        row.pairs++;
        rows.set(key, row);
      }
    }
    writer.rows(['src', 'app', 'user', 'bytes', 'pairs'].map((name) => ({ name, type: ['bytes', 'pairs'].includes(name) ? 'DOUBLE' : 'VARCHAR' })),
      [...rows.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top).map((r) => [r.src, r.app, r.user, Math.round(r.bytes), r.pairs]));
    writer.end();
    return;
  }
  const { auditSql } = await import('../../crosscheck/audit-query.js');
  const sql = auditSql(options.subnet !== undefined ? { subnet: options.subnet } : { address: options.address! }, top);
  const { flowsAnswer } = await import('../fleet-ask.js');
  const { columns, rows } = await flowsAnswer(options, sql, '');
  writer.rows(columns, rows);
  writer.end();
}
