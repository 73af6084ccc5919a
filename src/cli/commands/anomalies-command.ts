/** `endsight anomalies`: the applications most unlike their own past, on this host or across the fleet (docs/anomaly.md). */
import { Command } from 'commander';
import { ANOMALY_COLUMNS } from '../../anomaly/anomaly-sql.js';
import { anomaliesSql, scoredWindow } from '../../anomaly/anomaly-query.js';
import { SCORE_THRESHOLD } from '../../anomaly/anomaly-thresholds.js';
import { addDataDirOption, addWindowOptions, positiveInteger, windowFromOptions } from '../common-options.js';
import { addFleetAskOptions, type FleetAskCliOptions } from '../nats-cli-options.js';
import { ResultWriter, type OutputFormat } from '../output.js';

interface AnomaliesOptions extends Partial<FleetAskCliOptions> {
  dataDir: string;
  via: string;
  top: string;
  all?: boolean;
  format: string;
  since?: string;
  between?: string;
}

export function anomaliesCommand(): Command {
  const width = Math.max(...ANOMALY_COLUMNS.map((c) => c.name.length));
  const command = new Command('anomalies')
    .summary("applications unlike their own past: scans, exfiltration, never-seen applications, with the evidence")
    .description(
      'Scores every application (protocol and lower port) of a window against the same host\'s history: the same window 1 to 4 weeks ' +
        'back (the same hours of the week), blended with days of the same type (weekday, weekend) when fewer than 3 weeks have data. ' +
        `Features: bytes, bytes sent, flows, peers, and for the host as a whole ('*') distinct applications. A robust z-score ` +
        `(observed - median) / max(1.4826 MAD, 0.25 median, a floor) of ${SCORE_THRESHOLD} or more is an anomaly; floors keep tiny applications quiet. ` +
        'Each host scores itself; with --nats one signed query asks every host and keeps the fleet\'s worst rows.',
    )
    .option('--nats <url>', "the fleet's anomalies: one signed query to every host over this NATS server")
    .option('--via <path>', 'with --nats: hosts or sites', 'hosts')
    .option('--top <n>', 'how many rows, highest score first', '20')
    .option('--all', `every application scored, not only those scoring ${SCORE_THRESHOLD} or more`)
    .option('--format <format>', 'table, csv or json', 'table')
    .addHelpText('after', [
      '',
      'The window: --since D (the last D, default 1h) or --between START/END, at most a day; it is compared with the same window',
      'in past weeks and days, so score whole hours (--between 2026-11-02T09:00Z/2026-11-02T10:00Z) to compare like with like.',
      '',
      'Columns:',
      ...ANOMALY_COLUMNS.map((c) => `  ${c.name.padEnd(width)}  ${c.meaning}`),
      '',
      'Examples:',
      '  endsight anomalies                                   # this host, the last hour',
      '  endsight anomalies --between 2026-11-02T09:00Z/2026-11-02T10:00Z --format json',
      '  endsight anomalies --nats nats://coordinator:secret@broker:4222 --sign-key authority.key --since 1h --top 20',
      '  endsight anomalies --all --since 1h                  # every application with its score, to see the baselines',
    ].join('\n'));
  addWindowOptions(command);
  addDataDirOption(command);
  addFleetAskOptions(command);
  return command.action((options: AnomaliesOptions) => runAnomalies(options));
}

async function runAnomalies(options: AnomaliesOptions): Promise<void> {
  if (!['table', 'csv', 'json'].includes(options.format)) throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: use table, csv or json`);
  const top = positiveInteger(options.top, '--top');
  const window = scoredWindow(windowFromOptions(options), Date.now() * 1000);
  const sql = anomaliesSql(window, top, options.all === true);
  // The window is in the SQL: the baseline reads weeks before it, so the store (or every host) must not cut its flows to the window.
  const { flowsAnswer } = await import('../fleet-ask.js');
  const { columns, rows } = await flowsAnswer({ ...options, since: undefined, between: undefined }, sql, 'anomalies');
  const writer = new ResultWriter(options.format as OutputFormat, (text) => process.stdout.write(text));
  writer.rows(columns, rows);
  writer.end();
}
