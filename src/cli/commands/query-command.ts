/** `endsight query "SQL"`: read-only SQL over the store. */
import { Command } from 'commander';
import { addReadOptions, windowFromOptions } from '../common-options.js';
import { addFleetAskOptions, fleetAskSettings, type FleetAskCliOptions } from '../nats-cli-options.js';
import { askFleet, fleetSummary } from '../fleet-ask.js';
import { ResultWriter, type OutputFormat } from '../output.js';

export function queryCommand(): Command {
  const command = new Command('query')
    .summary('run a read-only SQL SELECT over the flows table')
    .description(
      'Runs one SQL SELECT (DuckDB dialect) over the `flows` table (one row per unidirectional flow; columns: ' +
        'host, start_time, end_time, src_addr, dst_addr, src_port, dst_port, proto, packets, bytes, tcp_flags, ' +
        'direction, process, pid, username, uid, container, end_reason, sampling, community_id, interface, source, command, tunnel) ' +
        'and the `imports` table (one row per import, with skipped packets by reason). ' +
        'Helpers: in_cidr(addr, \'10.0.0.0/8\'), ip_hex(addr), community_id(src, dst, sport, dport, proto). ' +
        'Nothing can be changed: statements other than SELECT are refused. See docs/flows.md for every column.',
    )
    .argument('[sql]', 'the SELECT statement (with --certificate, the template is the query instead)')
    .option('--nats <url>', 'ask the fleet over this NATS server instead of the local store (docs/fleet.md)')
    .option('--via <path>', 'hosts: ask every host directly; sites: ask each site\'s aggregators (endsight aggregator), which ask their hosts and merge', 'hosts')
    .option('--partial', 'with --nats --format json: also print the answer merged so far, as hosts answer ("partial": true), before the final one');
  addFleetAskOptions(command);
  addReadOptions(command, [
    'endsight query "SELECT src_addr, sum(bytes) AS bytes FROM flows GROUP BY 1 ORDER BY 2 DESC LIMIT 10"',
    'endsight query --since 2h --format csv "SELECT * FROM flows WHERE in_cidr(dst_addr, \'10.0.0.0/8\')"',
    'endsight query --format json "SELECT files, packets, issues FROM imports"',
    'endsight query --nats nats://coordinator:secret@broker:4222 --sign-key authority.key --target site:paris "SELECT process, sum(bytes) FROM flows GROUP BY 1 ORDER BY 2 DESC LIMIT 10"',
  ]);
  return command.action((sql: string | undefined, options) => {
    if (options.nats !== undefined) return runFleetQueryCommand(sql, options);
    if (sql === undefined) throw new RangeError('Cannot query without SQL: give the SELECT statement');
    return runQuery(sql, options);
  });
}

interface FleetQueryCliOptions extends FleetAskCliOptions {
  via: string;
  partial?: boolean;
  format: string;
  since?: string;
  between?: string;
}

/** A fleet answer as one JSON line: rows as objects, then who answered; `partial` only with --partial. */
function fleetJson(result: import('../../fleet/nats-fleet.js').FleetResult, partial: boolean | undefined): string {
  const rows = result.rows.map((row) => Object.fromEntries(result.columns.map((c, i) => [c.name, row[i]])));
  const { columns: _columns, rows: _rows, elapsedMs, ...status } = result;
  return JSON.stringify({ ...(partial === undefined ? {} : { partial }), rows, ...status, elapsed_ms: elapsedMs });
}

/** `endsight query --nats …`: the query across the fleet; rows and who answered (docs/fleet.md). */
async function runFleetQueryCommand(sqlArgument: string | undefined, options: FleetQueryCliOptions): Promise<void> {
  const { sql, signKey, issuer, limits, tls, analyst } = await fleetAskSettings(options, sqlArgument);
  if (options.via !== 'hosts' && options.via !== 'sites') throw new RangeError(`Cannot use --via ${JSON.stringify(options.via)}: use hosts or sites`);
  if (options.partial && options.format !== 'json') throw new RangeError('Cannot print partial answers as a table or CSV: --partial needs --format json');
  const progress = process.stderr.isTTY && options.format === 'table';
  const result = await askFleet(options, { sql, signKey, issuer, limits, tls, analyst }, {
    onProgress: progress ? (p) => process.stderr.write(`\r${p.answered + p.failed} of ${p.expected} hosts answered`) : undefined,
    onPartial: options.partial ? (partial) => process.stdout.write(fleetJson(partial, true) + '\n') : undefined,
  });
  if (progress) process.stderr.write('\r\x1b[K');
  if (options.format === 'json') {
    process.stdout.write(fleetJson(result, options.partial ? false : undefined) + '\n');
    return;
  }
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(result.columns, result.rows);
  writer.end();
  process.stderr.write(fleetSummary(result) + '\n');
}

/**
 * Runs `sql` on the store named by the verb's options (--data-dir, --since/--between) and streams the
 * result to stdout in --format.
 */
export async function runQuery(
  sql: string,
  options: { dataDir: string; format: string; since?: string; between?: string },
): Promise<void> {
  const window = windowFromOptions(options);
  const { QueryEngine } = await import('../../query/index.js'); // loads DuckDB: only when needed
  const engine = await QueryEngine.open(options.dataDir, { window });
  try {
    const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
    for await (const part of engine.stream(sql)) writer.rows(part.columns, part.rows);
    writer.end();
  } finally {
    engine.close();
  }
}
