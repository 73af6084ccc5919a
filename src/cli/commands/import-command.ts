/** `endsight import FILE…`: meters capture files into the store. */
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import type { ImportSummary } from '../../ingest/import-captures.js';
import { addDataDirOption, byteSize, durationUs, formatBytes, positiveInteger } from '../common-options.js';

export function importCommand(): Command {
  const command = new Command('import')
    .summary('meter capture files (pcap, pcapng, .gz, .zst) into flow records in the store')
    .description(
      'Reads capture files (pcap or pcapng, optionally gzip- or zstd-compressed), meters their packets into ' +
        'unidirectional flow records, and stores them. Several files are metered as one continuous trace, ' +
        'in the order given. Packets that cannot be decoded are skipped and counted by reason; the counts are ' +
        'printed and stored with the data (SELECT * FROM imports).',
    )
    .argument('<files...>', 'capture files to import')
    .option('--idle-timeout <duration>', 'end a flow after this long without a packet', '90s')
    .option('--active-timeout <duration>', 'end a flow open this long; later packets start a new record', '30m')
    .option('--fin-timeout <duration>', 'end a TCP flow that saw FIN or RST once quiet this long', '5s')
    .option('--export-interval <duration>', 'write finished records to the store at least this often (wall clock)', '60s')
    .option('--max-flows <n>', 'most flows tracked at once; beyond it the least recently seen ends early', '1000000')
    .option('--host <name>', 'host id recorded in each flow (default: this machine\'s name)')
    .option('--retention <duration>', 'delete segments written longer ago than this', '30d')
    .option('--quota <size>', 'most disk the store may use; oldest segments go first (default: min(2GiB, 10% of free disk))')
    .option('--export <url>', 'also send the records to a NetFlow/IPFIX collector: v5://HOST:PORT, v9://…, ipfix://… or ipfix+tcp://… (repeatable; docs/netflow.md)', (v: string, list: string[]) => [...list, v], [] as string[])
    .option('--config <file>', "the agent's configuration, whose privacy policy (privacy:, or the one the store keeps) the records pass before they are stored or exported (docs/privacy.md); needed to import into a store that holds a privacy policy")
    .option('--format <format>', 'summary format: text or json', 'text')
    .option('-q, --quiet', 'no progress bar')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  endsight import trace.pcapng\n' +
        '  endsight import --idle-timeout 30s --data-dir ./store day1.pcap.gz day2.pcap.zst\n' +
        '  endsight import --format json capture.pcap | jq .flows',
    );
  addDataDirOption(command);
  return command.action(async (files: string[], options) => {
    if (options.format !== 'text' && options.format !== 'json') {
      throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: expected text or json`);
    }
    const importOptions = {
      idleTimeoutUs: durationUs(options.idleTimeout, '--idle-timeout'),
      activeTimeoutUs: durationUs(options.activeTimeout, '--active-timeout'),
      finTimeoutUs: durationUs(options.finTimeout, '--fin-timeout'),
      exportIntervalUs: durationUs(options.exportInterval, '--export-interval'),
      maxFlows: positiveInteger(options.maxFlows, '--max-flows'),
      host: options.host as string | undefined,
    };
    // Loaded here, not at start-up: they load DuckDB (~0.4 s), which `--help` does not need.
    const { FlowStore } = await import('../../store/index.js');
    const { importCaptures } = await import('../../ingest/import-captures.js');
    const retentionMs = durationUs(options.retention, '--retention') / 1000;
    const quotaBytes = options.quota === undefined ? undefined : byteSize(options.quota, '--quota');
    if (quotaBytes === 0) throw new RangeError(`Cannot use --quota ${JSON.stringify(options.quota)}: it must be greater than zero`);
    const { parseExportTarget, FlowExporter } = await import('../../netflow/exporter.js');
    const targets = (options.export as string[]).map(parseExportTarget);
    const exporter = targets.length > 0 ? await FlowExporter.open(targets) : null;
    const privacyConfig = await importPrivacyConfig(options.config as string | undefined, options.dataDir as string);
    const store = await FlowStore.open(options.dataDir, { retentionMs, quotaBytes });
    const privacy = privacyConfig ? await privacyConfig.open(store.dataDir) : null;
    const bar = options.quiet || !process.stderr.isTTY ? null : progressBar();
    const startedAt = Date.now();
    let summary: ImportSummary;
    try {
      summary = await importCaptures(files, store, {
        ...importOptions,
        onProgress: bar
          ? (p) => {
              const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
              if (bar.getTotal() !== p.totalBytes) bar.setTotal(Math.max(p.totalBytes, 1));
              bar.update(p.bytesRead, {
                mbps: (p.bytesRead / 1e6 / seconds).toFixed(1),
                pps: Math.round(p.packets / seconds).toLocaleString('en-US'),
                packets: p.packets.toLocaleString('en-US'),
              });
            }
          : undefined,
        onRecords: exporter ? (batch) => exporter.send(batch.toRecords()) : undefined,
        privacy: privacy ?? undefined,
      });
    } finally {
      bar?.stop();
      await store.close();
      await exporter?.close();
    }
    const exported = exporter?.stats() ?? [];
    if (options.format === 'json') {
      process.stdout.write(JSON.stringify(exported.length > 0 ? { ...summary, exported } : summary) + '\n');
    } else {
      process.stdout.write(formatSummary(summary, store.dataDir));
      for (const e of exported) {
        process.stdout.write(`Exported ${e.records.toLocaleString('en-US')} records in ${e.messages.toLocaleString('en-US')} message${e.messages === 1 ? '' : 's'} to ${e.target}${e.skipped > 0 ? ` (${e.skipped} could not be encoded: IPv6 in v5)` : ''}\n`);
      }
    }
  });
}

/**
 * The privacy policy the imported records pass: the agent configuration's (--config), which also
 * verifies the one the store keeps (opened once the store is). A store that keeps a policy is not
 * written without it: its host promised that what the policy filters never reaches the disk.
 */
async function importPrivacyConfig(
  configFile: string | undefined,
  dataDir: string,
): Promise<{ open: (storeDir: string) => Promise<import('../../privacy/privacy-guard.js').PrivacyGuard> } | null> {
  const { existsSync } = await import('node:fs');
  const path = await import('node:path');
  const { KEPT_POLICY_FILE } = await import('../../privacy/privacy-guard.js');
  const kept = path.join(dataDir, KEPT_POLICY_FILE);
  if (configFile === undefined) {
    if (existsSync(kept)) {
      throw new RangeError(`Cannot import into ${dataDir} without its privacy policy: the store keeps one (${kept}); give the agent's configuration with --config, or import into another --data-dir`);
    }
    return null;
  }
  const { loadAgentConfig } = await import('../../agent/agent-config.js');
  const { openPrivacyGuard } = await import('../../privacy/open-privacy-guard.js');
  const { pino } = await import('pino');
  const config = loadAgentConfig(configFile, { dataDir });
  return { open: (storeDir) => openPrivacyGuard(config, storeDir, pino({ level: 'warn', base: { role: 'import' } }, pino.destination(2))) };
}

function progressBar(): cliProgress.SingleBar {
  const bar = new cliProgress.SingleBar(
    {
      format: 'importing |{bar}| {percentage}% | {mbps} MB/s | {pps} packets/s | {packets} packets | ETA {eta_formatted}',
      hideCursor: true,
      stream: process.stderr,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1, 0, { mbps: '0.0', pps: '0', packets: '0' });
  return bar;
}

/** The human summary printed after an import. */
export function formatSummary(s: ImportSummary, dataDir: string): string {
  const seconds = s.elapsedMs / 1000;
  const n = (x: number): string => x.toLocaleString('en-US');
  const plural = (count: number, word: string): string => `${n(count)} ${word}${count === 1 ? '' : 's'}`;
  const lines = [
    `Imported ${plural(s.files.length, 'file')} (${formatBytes(s.bytesRead)}) in ${seconds.toFixed(2)} s: ` +
      `${plural(s.packets, 'packet')} (${n(Math.round(s.packets / Math.max(seconds, 0.001)))} packets/s)`,
    `Stored ${plural(s.flows, 'flow record')} in ${plural(s.segmentsWritten, 'segment')} ` +
      `(${formatBytes(s.storedBytes)}${s.flows > 0 ? `, ${(s.storedBytes / s.flows).toFixed(1)} bytes/record` : ''})` +
      (s.flowsEvicted > 0 ? `; ${n(s.flowsEvicted)} flows ended early at the --max-flows cap` : ''),
  ];
  if (s.segmentsDeleted > 0) {
    lines.push(
      `Retention and quota deleted ${s.segmentsDeleted} segment${s.segmentsDeleted === 1 ? '' : 's'} (${formatBytes(s.bytesDeleted)})` +
        (s.ownSegmentsDeleted > 0
          ? `, ${s.ownSegmentsDeleted} of them written by this import: the quota is too small for it (--quota)`
          : ', written by earlier imports'),
    );
  }
  if (s.firstPacketTime) lines.push(`Packets from ${s.firstPacketTime} to ${s.lastPacketTime}`);
  const issues = Object.entries(s.issues);
  if (issues.length > 0) {
    lines.push(`Skipped or flagged (by reason):`);
    const width = Math.max(...issues.map(([reason]) => reason.length));
    for (const [reason, count] of issues) lines.push(`  ${reason.padEnd(width)}  ${n(count).padStart(10)}`);
  } else {
    lines.push('No packet was skipped.');
  }
  lines.push(`Store: ${dataDir}  (try: endsight flows --data-dir ${dataDir})`);
  return lines.join('\n') + '\n';
}
