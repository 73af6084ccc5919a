/** One signed query across the fleet from the command line (`query --nats`, the topology commands' `--nats`). */
import type { FleetResult } from '../fleet/nats-fleet.js';
import { windowFromOptions } from './common-options.js';
import type { fleetAskSettings, FleetAskCliOptions } from './nats-cli-options.js';

export interface FleetAskOptions extends FleetAskCliOptions {
  via: string;
  since?: string;
  between?: string;
}

/** Connects to --nats, asks, merges, and closes; the progress and partial callbacks are runFleetQuery's. */
export async function askFleet(
  options: FleetAskOptions,
  settings: Awaited<ReturnType<typeof fleetAskSettings>>,
  callbacks: FleetAskCallbacks = {},
): Promise<FleetResult> {
  const coordinator = await FleetCoordinator.connect(options, settings.tls, false);
  try {
    return await coordinator.ask(options, settings, callbacks);
  } finally {
    await coordinator.close();
  }
}

export interface FleetAskCallbacks {
  onProgress?: (p: { answered: number; failed: number; expected: number }) => void;
  onPartial?: (partial: FleetResult) => void;
}

/**
 * A connection to the fleet's NATS server that asks signed queries, one after another or at once.
 * One-shot (askFleet), each query first listens for heartbeats to learn who is there. Long-lived
 * (the console), it listens all along: queries start at once, and a host silent for less than
 * `STALE_HOST_MS` is still expected, so that an agent that stopped shows as not answering.
 */
export class FleetCoordinator {
  /** How long a long-lived coordinator keeps expecting a host whose heartbeats stopped. */
  static readonly STALE_HOST_MS = 30_000;

  private constructor(
    private readonly connection: import('@nats-io/nats-core').NatsConnection,
    private readonly planner: Awaited<ReturnType<typeof import('../fleet/merge-engine.js').openMergeEngine>>,
    private readonly registry: import('../fleet/fleet-registry.js').FleetRegistry | undefined,
    private readonly listeningSince: number,
  ) {}

  /** Connects; with `listen`, keeps a registry of the fleet's heartbeats from now on. */
  static async connect(options: Pick<FleetAskOptions, 'nats' | 'fleet'>, tls: Awaited<ReturnType<typeof fleetAskSettings>>['tls'], listen: boolean): Promise<FleetCoordinator> {
    const { connect } = await import('@nats-io/transport-node');
    const { natsOptions } = await import('../fleet/fleet-member.js');
    const { openMergeEngine } = await import('../fleet/merge-engine.js');
    const { FleetRegistry } = await import('../fleet/fleet-registry.js');
    const connection = await connect(natsOptions({ nats: options.nats, tls }, 'endsight coordinator')).catch((error: Error) => {
      throw new RangeError(`Cannot connect to NATS at ${options.nats}: ${error.message}`);
    });
    const registry = listen ? new FleetRegistry(connection, options.fleet, { presentForMs: FleetCoordinator.STALE_HOST_MS }) : undefined;
    return new FleetCoordinator(connection, await openMergeEngine(), registry, Date.now());
  }

  /** Asks the fleet one signed query and merges the answers. */
  async ask(options: FleetAskOptions, settings: Awaited<ReturnType<typeof fleetAskSettings>>, callbacks: FleetAskCallbacks = {}): Promise<FleetResult> {
    if (options.via !== 'hosts' && options.via !== 'sites') throw new RangeError(`Cannot use --via ${JSON.stringify(options.via)}: use hosts or sites`);
    const window = windowFromOptions(options) ?? null;
    const { runFleetQuery } = await import('../fleet/nats-fleet.js');
    const { HEARTBEAT_INTERVAL_MS } = await import('../fleet/fleet-subjects.js');
    // A registry that has just started listening has not heard every host yet.
    const heardFor = Date.now() - this.listeningSince;
    if (this.registry && heardFor < HEARTBEAT_INTERVAL_MS * 1.5) await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_INTERVAL_MS * 1.5 - heardFor));
    return runFleetQuery(this.connection, this.planner.connection, {
      sql: settings.sql,
      target: options.target,
      via: options.via,
      analyst: settings.analyst,
      fleet: options.fleet,
      signKey: settings.signKey,
      issuer: settings.issuer,
      limits: settings.limits,
      window,
      registry: this.registry,
      onProgress: callbacks.onProgress,
      onPartial: callbacks.onPartial,
    });
  }

  /**
   * Registers a standing query with the fleet, as `endsight watch` does, on this connection and its
   * registry, with a merge engine of its own (merges of several watches must not share one).
   */
  async watch(
    options: Pick<FleetAskOptions, 'target' | 'fleet'>,
    settings: Awaited<ReturnType<typeof fleetAskSettings>>,
    spec: { id: string; periodMs: number; alert: string | null; webhook: string | null },
    callbacks: Pick<import('../fleet/standing-watch.js').StandingWatchOptions, 'onPeriod' | 'onProblem' | 'onRegistered'>,
  ): Promise<import('../fleet/standing-watch.js').StandingWatch> {
    const { StandingWatch } = await import('../fleet/standing-watch.js');
    const { openMergeEngine } = await import('../fleet/merge-engine.js');
    const { HEARTBEAT_INTERVAL_MS } = await import('../fleet/fleet-subjects.js');
    // Each period expects the hosts the registry has heard: give it a heartbeat and a half first.
    const heardFor = Date.now() - this.listeningSince;
    if (this.registry && heardFor < HEARTBEAT_INTERVAL_MS * 1.5) await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_INTERVAL_MS * 1.5 - heardFor));
    const planner = await openMergeEngine();
    this.watchPlanners.push(planner);
    return StandingWatch.start(this.connection, planner.connection, {
      sql: settings.sql, target: options.target, fleet: options.fleet, signKey: settings.signKey, issuer: settings.issuer, limits: settings.limits,
      analyst: settings.analyst, registry: this.registry, ...spec, ...callbacks,
    });
  }

  private readonly watchPlanners: Awaited<ReturnType<typeof import('../fleet/merge-engine.js').openMergeEngine>>[] = [];

  async close(): Promise<void> {
    this.registry?.stop();
    this.planner.close();
    for (const planner of this.watchPlanners) planner.close();
    await this.connection.close();
  }
}

/**
 * The answer to `sql` from the fleet (with --nats: one signed query; who answered goes to stderr,
 * after `label`) or from the local store (--data-dir, the window options); `localSql` when the local
 * store has a cheaper way to the same rows.
 */
export async function flowsAnswer(
  options: Partial<FleetAskOptions> & { dataDir: string; since?: string; between?: string },
  sql: string,
  label: string,
  localSql = sql,
): Promise<{ columns: { name: string; type: string }[]; rows: import('../query/index.js').CellValue[][] }> {
  if (options.nats !== undefined) {
    const { fleetAskSettings } = await import('./nats-cli-options.js');
    const fleetOptions = options as FleetAskOptions;
    const result = await askFleet(fleetOptions, await fleetAskSettings(fleetOptions, sql));
    process.stderr.write(`${label ? `${label}: ` : ''}${fleetSummary(result)}\n`);
    return { columns: result.columns, rows: result.rows };
  }
  const { QueryEngine } = await import('../query/index.js');
  const engine = await QueryEngine.open(options.dataDir, { window: windowFromOptions(options) });
  try {
    return await engine.all(localSql);
  } finally {
    engine.close();
  }
}

/** Who answered, who did not, and what was cut or approximate: one line for stderr. */
export function fleetSummary(result: FleetResult): string {
  const failed = Object.entries(result.failed);
  return (
    `${result.answered.length} of ${result.expected.length} hosts answered in ${result.elapsedMs} ms` +
    (result.missing.length > 0 ? `; no answer from ${result.missing.join(', ')}` : '') +
    (result.sites && result.sites.missing.length > 0 ? `; no answer from the aggregators of ${result.sites.missing.map((site) => `site:${site}`).join(', ')}` : '') +
    (failed.length > 0 ? `; failed: ${failed.map(([host, why]) => `${host} (${why})`).join(', ')}` : '') +
    (result.truncated.length > 0 ? `; cut at the row limit: ${result.truncated.join(', ')}` : '') +
    (result.approximations.length > 0 ? `; approximate: ${result.approximations.join('; ')}` : '')
  );
}
