/** `endsight crosscheck`: both ends' records of the same flows compared; hosts that disagree named (docs/crosscheck.md). */
import { Command } from 'commander';
import { addWindowOptions, windowFromOptions, repeatable } from '../common-options.js';
import { addFleetAskOptions, type FleetAskCliOptions } from '../nats-cli-options.js';
import { ResultWriter, type OutputFormat } from '../output.js';

const RECORDS_SQL =
  'SELECT host, src_addr, dst_addr, src_port, dst_port, proto, epoch_ms(start_time)::DOUBLE AS s, epoch_ms(end_time)::DOUBLE AS e, ' +
  "packets::DOUBLE AS packets, bytes::DOUBLE AS bytes, direction FROM flows WHERE direction IN ('in', 'out')";

interface CrossCheckCliOptions extends Partial<FleetAskCliOptions> {
  store: string[];
  skew: string;
  threshold: string;
  details: string;
  format: string;
  since?: string;
  between?: string;
  via: string;
}

export function crosscheckCommand(): Command {
  const command = new Command('crosscheck')
    .summary("compare both ends' records of flows between instrumented hosts; name the hosts that disagree")
    .description(
      'A flow between two instrumented hosts is recorded by both (out at its sender, in at its receiver). This matches the two ' +
        'records (the same 5-tuple, starts within --skew), compares packets and bytes (within max(2, 1%) and max(3000, 1%)), and ' +
        'scores each host: altered flows, flows only one end has. A host whose records disagree with two or more peers is flagged; ' +
        'an honest host disagrees only with the liar. Records come from stores (--store, repeatable) or the fleet (--nats).',
    )
    .option('--store <dir>', "a data directory to read (repeatable; one agent's store each)", repeatable, [])
    .option('--nats <url>', "the fleet's records: one signed query to every host over this NATS server")
    .option('--via <path>', 'with --nats: hosts or sites', 'hosts')
    .option('--skew <duration>', 'clocks may differ by this much', '2s')
    .option('--threshold <share>', 'a pair of hosts disagrees when more than this share of its flows does', '0.05')
    .option('--details <n>', 'also list this many discrepancies (stderr with table output)', '0')
    .option('--format <format>', 'table, csv or json', 'table')
    .addHelpText('after', [
      '',
      'Columns: host, checkable (its records whose peer is instrumented), matched, altered, unmatched_here, unmatched_at_peers,',
      'score (discrepancies over the records involved), disagrees_with (peers), flagged, reason.',
      '',
      'Examples:',
      '  endsight crosscheck --store /var/lib/endsight-a --store /var/lib/endsight-b',
      '  endsight crosscheck --nats nats://coordinator:secret@broker:4222 --sign-key authority.key --since 1h --details 20',
    ].join('\n'));
  addWindowOptions(command);
  addFleetAskOptions(command);
  return command.action((options: CrossCheckCliOptions) => run(options));
}

async function run(options: CrossCheckCliOptions): Promise<void> {
  if (!['table', 'csv', 'json'].includes(options.format)) throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: use table, csv or json`);
  const { parseDurationMs } = await import('../../common/duration.js');
  const skewMs = parseDurationMs(options.skew, '--skew');
  const threshold = Number(options.threshold);
  if (!(threshold >= 0 && threshold < 1)) throw new RangeError(`Cannot use --threshold ${JSON.stringify(options.threshold)}: a share from 0 to below 1, e.g. 0.05`);
  const details = Number(options.details);
  if (!Number.isInteger(details) || details < 0) throw new RangeError(`Cannot use --details ${JSON.stringify(options.details)}: a whole number`);
  if ((options.store.length > 0) === (options.nats !== undefined)) throw new RangeError('Cannot tell where the records are: give --store DIR (repeatable) or --nats URL');
  const rows: unknown[][] = [];
  let columns: { name: string }[] = [];
  if (options.nats !== undefined) {
    const { fleetAskSettings } = await import('../nats-cli-options.js');
    const { askFleet, fleetSummary } = await import('../fleet-ask.js');
    const fleetOptions = options as CrossCheckCliOptions & FleetAskCliOptions;
    const result = await askFleet(fleetOptions, await fleetAskSettings(fleetOptions, RECORDS_SQL));
    process.stderr.write(`records: ${fleetSummary(result)}\n`);
    columns = result.columns;
    rows.push(...result.rows);
  } else {
    const { QueryEngine } = await import('../../query/index.js');
    for (const dir of options.store) {
      const engine = await QueryEngine.open(dir, { window: windowFromOptions(options) });
      try {
        const part = await engine.all(RECORDS_SQL);
        columns = part.columns;
        rows.push(...part.rows);
      } finally {
        engine.close();
      }
    }
  }
  const at = (name: string): number => columns.findIndex((c) => c.name === name);
  const i = Object.fromEntries(['host', 'src_addr', 'dst_addr', 'src_port', 'dst_port', 'proto', 's', 'e', 'packets', 'bytes', 'direction'].map((n) => [n, at(n)]));
  const { crossCheck } = await import('../../crosscheck/cross-validation.js');
  const result = crossCheck(
    rows.map((r) => ({
      host: String(r[i.host]), srcAddr: String(r[i.src_addr]), dstAddr: String(r[i.dst_addr]), srcPort: Number(r[i.src_port]), dstPort: Number(r[i.dst_port]),
      protocol: Number(r[i.proto]), startMs: Number(r[i.s]), endMs: Number(r[i.e]), packets: Number(r[i.packets]), bytes: Number(r[i.bytes]), direction: r[i.direction] === 'in' ? 'in' : 'out',
    })),
    { skewMs, threshold },
  );
  if (options.format === 'json') {
    process.stdout.write(JSON.stringify({ hosts: result.hosts, discrepancies: result.discrepancies.slice(0, details) }) + '\n');
    return;
  }
  const flagged = result.hosts.filter((h) => h.flagged);
  process.stderr.write(`${result.hosts.length} hosts with instrumented peers, ${result.discrepancies.length} discrepancies; ${flagged.length === 0 ? 'no host flagged' : `flagged: ${flagged.map((h) => h.host).join(', ')}`}\n`);
  for (const d of result.discrepancies.slice(0, details)) {
    process.stderr.write(d.kind === 'altered'
      ? `  altered ${d.flow} at ${new Date(d.startMs).toISOString()}: ${d.sender} says ${d.senderPackets} packets ${d.senderBytes} bytes, ${d.receiver} ${d.receiverPackets} packets ${d.receiverBytes} bytes\n`
      : `  only at ${d.at} (not at ${d.peer}): ${d.flow} at ${new Date(d.startMs).toISOString()}, ${d.packets} packets ${d.bytes} bytes\n`);
  }
  const names = ['host', 'checkable', 'matched', 'altered', 'unmatched_here', 'unmatched_at_peers', 'score', 'disagrees_with', 'flagged', 'reason'];
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(names.map((name) => ({ name, type: ['host', 'disagrees_with', 'reason'].includes(name) ? 'VARCHAR' : name === 'flagged' ? 'BOOLEAN' : 'DOUBLE' })),
    result.hosts.map((h) => [h.host, h.checkable, h.matched, h.altered, h.unmatchedHere, h.unmatchedAtPeers, Math.round(h.score * 10_000) / 10_000, h.disagreesWith.join(' '), h.flagged, h.reason]));
  writer.end();
}
