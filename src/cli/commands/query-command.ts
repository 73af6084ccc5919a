/** `endsight query "SQL"`: read-only SQL over the store. */
import { Command } from 'commander';
import { addReadOptions, windowFromOptions } from '../common-options.js';
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
    .argument('<sql>', 'the SELECT statement');
  addReadOptions(command, [
    'endsight query "SELECT src_addr, sum(bytes) AS bytes FROM flows GROUP BY 1 ORDER BY 2 DESC LIMIT 10"',
    'endsight query --since 2h --format csv "SELECT * FROM flows WHERE in_cidr(dst_addr, \'10.0.0.0/8\')"',
    'endsight query --format json "SELECT files, packets, issues FROM imports"',
  ]);
  return command.action((sql: string, options) => runQuery(sql, options));
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
