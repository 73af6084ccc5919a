/**
 * The console's query page behind `POST /api/query`: one SQL statement over `flows`, answered by the
 * local store (--data-dir) or, when the console was started with --nats, by the fleet as one signed
 * query (signed with the operator's --sign-key), with progress as hosts answer and, at the end, who
 * answered, who did not and who refused.
 */
import type { CellValue, QueryColumn } from '../query/index.js';
import type { FleetAskOptions, FleetCoordinator } from '../cli/fleet-ask.js';

/** What the page asks. */
export interface ConsoleQuery {
  sql: string;
  /** all, host:ID, site:NAME, tag:T or net:CIDR (the fleet's targets; the local store is one host). */
  target: string;
  /** A --since duration such as 2h, or none. */
  since?: string;
  /** Rows to keep (default MAX_CONSOLE_ROWS): the console's own computations (coverage) need them all. */
  maxRows?: number;
}

export interface ConsoleQueryProgress {
  answered: number;
  failed: number;
  expected: number;
}

export interface ConsoleQueryAnswer {
  source: 'store' | 'fleet';
  columns: QueryColumn[];
  rows: CellValue[][];
  /** Rows left out past MAX_CONSOLE_ROWS (the page is not a bulk export: `endsight query` is). */
  rows_cut: number;
  elapsed_ms: number;
  /** The fleet's host outcomes (the store: this host only). */
  expected: string[];
  answered: string[];
  missing: string[];
  failed: Record<string, string>;
}

export type ConsoleQueryHandler = ((query: ConsoleQuery, onProgress: (progress: ConsoleQueryProgress) => void) => Promise<ConsoleQueryAnswer>) & {
  /** Closes the fleet connection, if one was made (its subscriptions would keep the process alive after the server stops). */
  close?: () => Promise<void>;
};

/** The shared fleet connection: made on first use, closed by close(). */
export type SharedCoordinator = ((tls: Parameters<typeof FleetCoordinator.connect>[1]) => Promise<FleetCoordinator>) & { close: () => Promise<void> };

export const MAX_CONSOLE_ROWS = 10_000;

/**
 * The handler for a console over the store in `dataDir`, or over the fleet when `fleet.nats` is set:
 * then one connection that listens to the fleet's heartbeats from the first query on (a host that
 * stops is expected, and shown as not answering, for FleetCoordinator.STALE_HOST_MS).
 */
export function consoleQueryHandler(dataDir: string, fleet: Partial<FleetAskOptions>, connectFleet: SharedCoordinator = sharedCoordinator(fleet)): ConsoleQueryHandler {
  const handler: ConsoleQueryHandler = async (query, onProgress) => {
    const started = Date.now();
    const limit = query.maxRows ?? MAX_CONSOLE_ROWS;
    const cut = (rows: CellValue[][]): { rows: CellValue[][]; rows_cut: number } => ({ rows: rows.slice(0, limit), rows_cut: Math.max(0, rows.length - limit) });
    if (fleet.nats !== undefined) {
      const { fleetAskSettings } = await import('../cli/nats-cli-options.js');
      const options = { ...(fleet as FleetAskOptions), target: query.target, since: query.since, between: undefined };
      const settings = await fleetAskSettings(options, query.sql);
      const result = await (await connectFleet(settings.tls)).ask(options, settings, { onProgress });
      return {
        source: 'fleet', columns: result.columns, ...cut(result.rows), elapsed_ms: result.elapsedMs,
        expected: result.expected, answered: result.answered, missing: result.missing, failed: result.failed,
      };
    }
    if (query.target !== 'all') throw new RangeError(`Cannot ask ${JSON.stringify(query.target)} of a console over one store: start the console with --nats to ask the fleet`);
    const { QueryEngine } = await import('../query/index.js');
    const { windowFromOptions } = await import('../cli/common-options.js');
    const engine = await QueryEngine.open(dataDir, { window: windowFromOptions({ since: query.since }) });
    try {
      onProgress({ answered: 0, failed: 0, expected: 1 });
      const answer = await engine.all(query.sql);
      return { source: 'store', columns: answer.columns, ...cut(answer.rows), elapsed_ms: Date.now() - started, expected: ['this host'], answered: ['this host'], missing: [], failed: {} };
    } finally {
      engine.close();
    }
  };
  handler.close = connectFleet.close;
  return handler;
}

/**
 * The console's one connection to the fleet, made on first use and listening to heartbeats from then
 * on (queries and standing alerts share it); one that failed to connect is tried again next time.
 */
export function sharedCoordinator(fleet: Partial<FleetAskOptions>): SharedCoordinator {
  let coordinator: Promise<FleetCoordinator> | null = null;
  const connect = (tls: Parameters<typeof FleetCoordinator.connect>[1]): Promise<FleetCoordinator> => {
    coordinator ??= import('../cli/fleet-ask.js').then(({ FleetCoordinator }) => FleetCoordinator.connect(fleet as FleetAskOptions, tls, true)).catch((error: Error) => {
      coordinator = null;
      throw error;
    });
    return coordinator;
  };
  return Object.assign(connect, {
    close: async (): Promise<void> => {
      const held = coordinator;
      coordinator = null;
      await (await held?.catch(() => null))?.close();
    },
  });
}
