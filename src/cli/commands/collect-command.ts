/** `endsight collect`: NetFlow v5/v9 and IPFIX from routers and probes into the store (docs/netflow.md). */
import { Command } from 'commander';
import { addDataDirOption, byteSize, durationUs, repeatable } from '../common-options.js';

export function collectCommand(): Command {
  const command = new Command('collect')
    .summary('receive NetFlow v5/v9 and IPFIX (UDP, and IPFIX over TCP) into the store')
    .description(
      'Listens for NetFlow v5, NetFlow v9 and IPFIX from routers, switches and probes, and stores their flow records ' +
        'beside the agents\' (source: ipfix:ADDRESS, netflow-v9:ADDRESS or netflow-v5:ADDRESS; host: the exporter). ' +
        'Templates are kept per exporter, version, observation domain and template ID (bounded, 30 minutes without a ' +
        'refresh and a template is gone); options records give the sampling rate; sequence gaps count as loss. ' +
        'Malformed input is counted by reason per exporter and dropped. SIGINT or SIGTERM stores what is pending, ' +
        'prints the counts per exporter and stops.',
    )
    .option('--listen <url>', 'udp://HOST:PORT or tcp://HOST:PORT (repeatable)', repeatable, [])
    .option('--export-interval <duration>', 'write received records to the store at least this often', '10s')
    .option('--retention <duration>', 'delete segments written longer ago than this', '30d')
    .option('--quota <size>', 'most disk the store may use; oldest segments go first (default: min(2GiB, 10% of free disk))')
    .option('--format <format>', 'the summary at the end: text or json', 'text')
    .addHelpText('after', [
      '',
      'Default: --listen udp://127.0.0.1:2055 (NetFlow\'s usual port; IPFIX\'s is 4739).',
      '',
      'Examples:',
      '  endsight collect --listen udp://0.0.0.0:2055 --listen tcp://0.0.0.0:4739',
      '  softflowd -i eth0 -n 127.0.0.1:2055 -v 10        # a probe to try it with',
      '  endsight query "SELECT source, count(*), sum(bytes) FROM flows WHERE source LIKE \'ipfix:%\' GROUP BY 1"',
    ].join('\n'));
  addDataDirOption(command);
  return command.action(async (options: { listen: string[]; exportInterval: string; retention: string; quota?: string; format: string; dataDir: string }) => {
    if (options.format !== 'text' && options.format !== 'json') throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: expected text or json`);
    const { parseListenAddress } = await import('../../netflow/collector.js');
    const { CollectorService } = await import('../../netflow/collector-service.js');
    const addresses = (options.listen.length > 0 ? options.listen : ['udp://127.0.0.1:2055']).map(parseListenAddress);
    const intervalMs = durationUs(options.exportInterval, '--export-interval') / 1000;
    const retentionMs = durationUs(options.retention, '--retention') / 1000;
    const quotaBytes = options.quota === undefined ? undefined : byteSize(options.quota, '--quota');
    const service = await CollectorService.start({ dataDir: options.dataDir, retentionMs, quotaBytes, intervalMs }, addresses);
    process.stderr.write(`collecting on ${service.addresses().join(', ')} into ${service.dataDir} (SIGINT or SIGTERM stops)\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    const { stored, stats, dropped } = await service.stop();
    if (options.format === 'json') {
      process.stdout.write(JSON.stringify({ stored, dropped, exporters: stats }) + '\n');
      return;
    }
    const lines = [`Stored ${stored.toLocaleString('en-US')} flow records from ${stats.length} exporter${stats.length === 1 ? '' : 's'}${dropped > 0 ? `; ${dropped} datagrams dropped: the backlog to the decoding thread was full` : ''}`];
    for (const e of stats) {
      const issues = Object.entries(e.issues);
      lines.push(`  ${e.exporter}: ${e.messages} messages, ${e.records} records, ${e.lost} lost by the sequence numbers${issues.length > 0 ? `; dropped: ${issues.map(([k, n]) => `${n} ${k}`).join(', ')}` : ''}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  });
}
