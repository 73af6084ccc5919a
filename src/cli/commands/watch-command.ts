/** `endsight watch --nats URL --sign-key FILE --every 1m [--alert COND] [--webhook URL] "SQL"`: a standing fleet query (docs/fleet.md). */
import { Command } from 'commander';
import { parseDurationMs } from '../../common/duration.js';
import { positiveInteger } from '../common-options.js';
import { addFleetAskOptions, fleetAskSettings, type FleetAskCliOptions } from '../nats-cli-options.js';
import { ResultWriter } from '../output.js';

interface WatchCliOptions extends FleetAskCliOptions {
  every: string;
  alert?: string;
  webhook?: string;
  count?: string;
  format: string;
}

export function watchCommand(): Command {
  const command = new Command('watch')
    .summary('register a standing query with the fleet: every period, the merged result and any alerts')
    .description(
      'Registers a fleet query that the targeted hosts run at every period boundary over the flows of the period just ended, ' +
        'and push. Prints each period\'s merged result once every expected host has sent its own (or the time limit after the ' +
        'period\'s end). With --alert, each merged row where the SQL condition holds is an alert: logged on stderr and, with ' +
        '--webhook, POSTed as JSON. Hosts run each period once its flows are stored (the agent\'s idle timeout and export ' +
        'interval after its end, about 2.5 minutes with the defaults). The registration is renewed every minute; hosts drop it ' +
        '150 s after the last renewal, so stopping this command (Ctrl-C) stops the query everywhere within 150 s. Hosts keep ' +
        'at most 16 standing queries each.',
    )
    .argument('[sql]', 'the SELECT statement, as for endsight query --nats (with --certificate, the template instead)')
    .requiredOption('--nats <url>', 'NATS server URL(s) with the coordinator role\'s credential (nats://coordinator:password@host:4222)')
    .requiredOption('--every <duration>', 'the period: 1s to 24h (e.g. 30s, 5m, 1h)');
  addFleetAskOptions(command)
    .option('--alert <condition>', "an SQL condition over the result's columns: each row where it holds is an alert (e.g. \"bytes > 1e9\")")
    .option('--webhook <url>', 'POST each period with alerts to this URL, as JSON (docs/fleet.md, "Standing queries")')
    .option('--count <n>', 'stop after this many periods (default: run until stopped)')
    .option('--format <format>', 'table: a header line and the rows per period; json: one JSON object per period', 'table')
    .addHelpText('after', [
      '',
      'Examples:',
      '  endsight watch --nats nats://coordinator:secret@broker:4222 --sign-key authority.key --every 1m \\',
      '    --alert "bytes > 1e9" --webhook http://alerts.example/hook "SELECT host, sum(bytes) AS bytes FROM flows GROUP BY host"',
      '  endsight watch --nats … --sign-key authority.key --every 10s --count 6 --format json "SELECT count(*) AS flows FROM flows"',
    ].join('\n'));
  return command.action((sql: string | undefined, options: WatchCliOptions) => runWatch(sql, options));
}

async function runWatch(sqlArgument: string | undefined, options: WatchCliOptions): Promise<void> {
  const { sql, signKey, issuer, limits, tls, analyst } = await fleetAskSettings(options, sqlArgument);
  const periodMs = parseDurationMs(options.every, '--every');
  const { MIN_PERIOD_MS, MAX_PERIOD_MS } = await import('../../fleet/standing-queries.js');
  if (!(periodMs >= MIN_PERIOD_MS && periodMs <= MAX_PERIOD_MS && Number.isInteger(periodMs))) {
    throw new RangeError(`Cannot use --every ${JSON.stringify(options.every)}: the period must be a whole number of ms from 1s to 24h`);
  }
  const count = options.count === undefined ? Infinity : positiveInteger(options.count, '--count');
  if (options.format !== 'table' && options.format !== 'json') throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: use table or json`);
  if (options.webhook !== undefined && !/^https?:\/\//.test(options.webhook)) throw new RangeError(`Cannot use --webhook ${JSON.stringify(options.webhook)}: it must be an http:// or https:// URL`);
  if (options.webhook !== undefined && options.alert === undefined) throw new RangeError('Cannot use --webhook without --alert: the webhook receives alerts');
  const { connect } = await import('@nats-io/transport-node');
  const { natsOptions } = await import('../../fleet/fleet-member.js');
  const { openMergeEngine } = await import('../../fleet/merge-engine.js');
  const { StandingWatch, alertPayload } = await import('../../fleet/standing-watch.js');
  const connection = await connect({ ...natsOptions({ nats: options.nats, tls }, 'endsight watch'), maxReconnectAttempts: -1 }).catch((error: Error) => {
    throw new RangeError(`Cannot connect to NATS at ${options.nats}: ${error.message}`);
  });
  const planner = await openMergeEngine();
  let seen = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  try {
    const watch = await StandingWatch.start(connection, planner.connection, {
      sql, target: options.target, fleet: options.fleet, signKey, issuer, limits, periodMs, analyst, alert: options.alert ?? null, webhook: options.webhook ?? null,
      onRegistered: (registered, refused) => {
        const refusals = Object.entries(refused);
        process.stderr.write(`watch: registered on ${registered.length} hosts${refusals.length > 0 ? `; refused by ${refusals.map(([host, why]) => `${host} (${why})`).join(', ')}` : ''}\n`);
      },
      onProblem: (problem) => process.stderr.write(`watch: ${problem}\n`),
      onPeriod: (period) => {
        if (seen >= count) return;
        seen++;
        if (options.format === 'json') {
          const { columns, rows, alerts, elapsedMs: _elapsed, webhookError, ...status } = period;
          const objects = (list: typeof rows): Record<string, unknown>[] => list.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i]])));
          process.stdout.write(JSON.stringify({ ...status, rows: objects(rows), alerts: objects(alerts), webhook_error: webhookError }) + '\n');
        } else {
          process.stdout.write(`period ${period.periodStart} to ${period.periodEnd}: ${period.answered.length} of ${period.expected.length} hosts` +
            (period.missing.length > 0 ? `; no answer from ${period.missing.join(', ')}` : '') + '\n');
          const writer = new ResultWriter('table', (text) => process.stdout.write(text));
          writer.rows(period.columns, period.rows);
          writer.end();
        }
        if (period.alerts.length > 0) process.stderr.write(`watch: ALERT ${JSON.stringify(alertPayload(period, sql, options.alert!))}\n`);
        if (period.webhookError) process.stderr.write(`watch: ${period.webhookError}; the alert is only in this log\n`);
        if (seen >= count) done();
      },
    });
    const stop = (): void => done();
    process.once('SIGINT', stop).once('SIGTERM', stop);
    await finished;
    process.off('SIGINT', stop).off('SIGTERM', stop);
    await watch.stop();
  } finally {
    planner.close();
    await connection.close();
  }
}
