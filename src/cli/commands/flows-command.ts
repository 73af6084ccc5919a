/** `endsight flows [FILTER]`: lists flows with an nfdump-like filter and sort order. */
import { Command, Option } from 'commander';
import { compileFlowFilter } from '../../query/flow-filter.js';
import { addReadOptions, positiveInteger } from '../common-options.js';
import { runQuery } from './query-command.js';

const SORT_KEYS: Record<string, string> = {
  start: 'start_time', end: 'end_time', bytes: 'bytes DESC', packets: 'packets DESC',
  duration: 'epoch_us(end_time) - epoch_us(start_time) DESC', src: 'length(ip_hex(src_addr)), ip_hex(src_addr)', dst: 'length(ip_hex(dst_addr)), ip_hex(dst_addr)',
};
const DEFAULT_COLUMNS = 'start_time, round((epoch_us(end_time) - epoch_us(start_time)) / 1e6, 3) AS duration_s, proto, src_addr, src_port, dst_addr, dst_port, packets, bytes, tcp_flags, process, username, end_reason';

export function flowsCommand(): Command {
  const command = new Command('flows')
    .summary('list flows, filtered like nfdump ("proto tcp and port 443")')
    .description(
      'Lists stored flows matching an nfdump-like filter. Terms: proto tcp|udp|icmp|icmp6|esp|gre|sctp|N, ' +
        '[src|dst] host ADDR, [src|dst] net CIDR, [src|dst] port [OP] N, packets|bytes|duration [OP] N[k|M|G] ' +
        '(duration in ms), flags SAF…, process|user|container|iface|source|host-id|end-reason|direction NAME, ' +
        'pid|uid [OP] N; combined with and, or, not and parentheses. OP is one of = != > < >= <=.',
    )
    .argument('[filter...]', 'filter expression (several words are joined by spaces)')
    .addOption(new Option('--sort <key>', 'order of the rows').choices(Object.keys(SORT_KEYS)).default('start'))
    .option('--limit <n>', 'show at most this many flows', '50')
    .option('--columns <list>', 'comma-separated columns to show (any column of flows), or "all"');
  addReadOptions(command, [
    'endsight flows proto tcp and dst port 443 --sort bytes --limit 10',
    'endsight flows "net 10.0.0.0/8 and not port 53" --since 1h',
    'endsight flows "bytes > 1M or duration > 60000" --format json',
  ]);
  return command.action(async (filterWords: string[], options) => {
    const where = compileFlowFilter(filterWords.join(' '));
    const limit = positiveInteger(options.limit, '--limit');
    const columns = options.columns === undefined ? DEFAULT_COLUMNS : options.columns === 'all' ? '*' : options.columns;
    await runQuery(`SELECT ${columns} FROM flows WHERE ${where} ORDER BY ${SORT_KEYS[options.sort]} LIMIT ${limit}`, options);
  });
}
