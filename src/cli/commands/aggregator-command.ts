/** `endsight aggregator --nats URL --authority FILE --site NAME`: a site aggregator (docs/fleet.md). */
import os from 'node:os';
import { Command } from 'commander';
import { VERSION } from '../../common/version.js';
import { addNatsTlsOptions, natsTls, readOptionFile, type NatsTlsCliOptions } from '../nats-cli-options.js';

interface AggregatorCliOptions extends NatsTlsCliOptions {
  nats: string;
  authority: string;
  site: string;
  fleet: string;
  id?: string;
  logLevel: string;
}

export function aggregatorCommand(): Command {
  const command = new Command('aggregator')
    .summary("serve one site's fleet queries: ask the site's hosts, merge, answer once for the site")
    .description(
      'A site aggregator receives the fleet queries that `endsight query --via sites` sends, asks the hosts of its site ' +
        '(heard from their heartbeats), asks silent ones again, merges their answers and sends the coordinator one answer ' +
        'naming who in the site answered, was missing or failed. It keeps no state: run two or more per site (they form a ' +
        "NATS queue group, so each query reaches one; if it dies, the coordinator's next ask reaches another). It checks " +
        "every query's signature as hosts do. Its NATS credential is the aggregator role's (docs/fleet.md). " +
        'SIGTERM or Ctrl-C stops it.',
    )
    .requiredOption('--nats <url>', 'NATS server URL(s), comma-separated (nats://aggregator:password@host:4222)')
    .requiredOption('--authority <file>', "the authority's public key (endsight keys init): only queries it signed are served")
    .requiredOption('--site <name>', 'the site this aggregator serves')
    .option('--fleet <name>', 'the fleet', 'endsight')
    .option('--id <name>', "this aggregator's name (default: site@hostname-pid)")
    .option('--log-level <level>', 'log detail: trace, debug, info, warn, error', 'info');
  addNatsTlsOptions(command);
  command.addHelpText('after', '\nExample:\n  endsight aggregator --nats nats://aggregator:secret@broker:4222 --authority /etc/endsight/authority.pub --site paris\n');
  return command.action((options: AggregatorCliOptions) => runAggregator(options));
}

async function runAggregator(options: AggregatorCliOptions): Promise<void> {
  // The site names a queue group and subjects: only the characters agents accept for --site.
  if (!/^[A-Za-z0-9_-]+$/.test(options.site)) throw new RangeError(`Cannot use --site ${JSON.stringify(options.site)}: expected a name of letters, digits, - and _`);
  const { loadKey } = await import('../../fleet/signed-query.js');
  const authority = loadKey(await readOptionFile(options.authority, '--authority'), 'public', options.authority);
  const tls = await natsTls(options);
  const { pino } = await import('pino');
  const log = pino({ level: options.logLevel, base: { role: 'aggregator', site: options.site } }, pino.destination(2));
  const { connect } = await import('@nats-io/transport-node');
  const { natsOptions } = await import('../../fleet/fleet-member.js');
  const { SiteAggregator } = await import('../../fleet/site-aggregator.js');
  const id = options.id ?? `${options.site}@${os.hostname()}-${process.pid}`;
  const connection = await connect({ ...natsOptions({ nats: options.nats, tls }, `endsight aggregator ${id}`), maxReconnectAttempts: -1, reconnectTimeWait: 2000 }).catch((error: Error) => {
    throw new RangeError(`Cannot connect to NATS at ${options.nats}: ${error.message}`);
  });
  const aggregator = await SiteAggregator.start(connection, { fleet: options.fleet, site: options.site, id, authority, version: VERSION, log });
  log.info({ nats: connection.getServer(), fleet: options.fleet, id }, 'site aggregator: serving fleet queries');
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop).once('SIGINT', stop);
  });
  await aggregator.stop();
  await connection.drain().catch(() => undefined);
  log.info('site aggregator: stopped');
}
