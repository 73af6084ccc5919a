/** What `endsight topo` and `endsight whatif` read: the OSPF source, the traffic matrix, link capacities. */
import type { Command } from 'commander';
import type { Demand } from '../../topo/link-loads.js';
import type { MatrixRow } from '../../topo/flow-matrix.js';
import { addDataDirOption, addWindowOptions } from '../common-options.js';
import { addFleetAskOptions } from '../nats-cli-options.js';
import type { LinkStateDatabase } from '../../topo/ospf/lsdb.js';

export interface SourceOptions {
  from: string;
  format: string;
  /** With if:NAME: how long to listen. */
  listen?: string;
  /** With if:NAME: join the LAN as a stub router (RFC 6987) to get the whole database at once. */
  adjacency?: boolean;
  /** With --adjacency: our router ID, and how long to stay once the database is complete. */
  routerId?: string;
  hold?: string;
}

export const TOPO_FORMATS = ['table', 'json', 'csv'];

/**
 * The rows of a small CSV file an option names: the header must be one of `headers`, each row as many
 * cells; `parse` turns a row's cells (and the header's names) into a value or null, and the first row
 * it refuses is one error naming the line, as is a wrong header.
 */
export async function readCsvFile<T>(file: string, option: string, headers: readonly string[], expect: string, parse: (cells: string[], names: string[]) => T | null): Promise<T[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(file, 'utf8').catch((error: Error) => {
    throw new RangeError(`Cannot read ${option} ${file}: ${error.message}`);
  });
  const lines = text.split(/\r?\n/);
  const header = headers.find((h) => lines[0]?.trim().toLowerCase().replace(/\s/g, '') === h);
  if (header === undefined) {
    throw new RangeError(`Cannot read ${option} ${file}: line 1 must be the header ${headers.join(' or ')} (got ${JSON.stringify(lines[0]?.slice(0, 60))})`);
  }
  const names = header.split(',');
  const width = names.length;
  const out: T[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const cells = line.split(',').map((cell) => cell.trim());
    const value = cells.length === width ? parse(cells, names) : null;
    if (value === null) throw new RangeError(`Cannot read ${option} ${file}: line ${i + 1}: expected ${expect} (got ${JSON.stringify(line.slice(0, 80))})`);
    out.push(value);
  }
  return out;
}

/** The traffic matrix's rows. */
/** A matrix CSV: src,dst,bytes, optionally with the application and user of each row (for link breakdowns). */
export function readMatrix(file: string): Promise<Demand[]> {
  return readCsvFile(file, '--matrix', ['src,dst,bytes', 'src,dst,bytes,app', 'src,dst,bytes,app,user'], 'src,dst,bytes[,app[,user]]', ([src, dst, bytes, app, user]) => {
    const value = Number(bytes);
    return src && dst && Number.isFinite(value) && value >= 0 ? { src, dst, bytes: value, app: app || null, user: user || null } : null;
  });
}

const RATE_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

/** Capacities by sending interface address, bits/s. */
export async function readCapacities(file: string): Promise<Map<string, number>> {
  const rows = await readCsvFile(file, '--capacity', ['address,bps'], 'address,bps such as 10.0.0.1,1G', ([address, rate]) => {
    const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)$/i.exec(rate);
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(address) || !match || Number(match[1]) <= 0) return null;
    return [address, Number(match[1]) * RATE_UNITS[match[2].toLowerCase()]] as const;
  });
  return new Map(rows);
}

/** The options of `--from if:NAME`: --listen, and --adjacency with its --router-id and --hold. */
export function addListenOptions(command: Command): Command {
  return command
    .option('--listen <duration>', 'with --from if:NAME: how long to listen (with --adjacency: the most to wait for the whole database; Ctrl-C stops sooner)', '60s')
    .option('--adjacency', 'with --from if:NAME: join the LAN as a router that carries no traffic (RFC 6987 stub router, priority 0) and get the whole database from its DR within seconds; needs root and an address on that LAN')
    .option('--router-id <id>', 'with --adjacency: the router ID to use (default: the interface address)')
    .option('--hold <duration>', 'with --adjacency: stay adjacent this long once the database is complete, following what is flooded (Ctrl-C stops sooner)', '0s');
}

/** The link-state database from `--from`, and the time to read it at. */
export async function readSource(options: SourceOptions): Promise<{ lsdb: LinkStateDatabase; nowMs: number }> {
  if (!TOPO_FORMATS.includes(options.format)) throw new RangeError(`Cannot use --format ${JSON.stringify(options.format)}: use ${TOPO_FORMATS.join(', ')}`);
  if (options.adjacency === true && !/^if:/.test(options.from)) throw new RangeError(`Cannot use --adjacency with --from ${options.from}: it needs an interface (--from if:NAME)`);
  if (/^if:/.test(options.from)) return options.adjacency === true ? adjacencySource(options.from.slice(3), options) : listenSource(options.from.slice(3), options.listen ?? '60s');
  if (/\.ya?ml$/i.test(options.from)) {
    const { readTopologyFile, TopologyFileError } = await import('../../topo/ospf/topology-file.js');
    try {
      return { lsdb: readTopologyFile(options.from), nowMs: 0 };
    } catch (error) {
      throw error instanceof TopologyFileError ? new RangeError(error.message) : error;
    }
  }
  const skipped = (issues: Record<string, number>): string =>
    Object.keys(issues).length > 0 ? `; skipped: ${Object.entries(issues).map(([k, n]) => `${n} ${k}`).join(', ')}` : '';
  if (options.from.startsWith('frr:')) {
    const { readFrrDatabase } = await import('../../topo/ospf/frr-source.js');
    const now = Date.now();
    const frr = await readFrrDatabase(options.from.slice(4), now);
    process.stderr.write(`${options.from}: ${frr.files} FRR listings; LSAs ${frr.lsas.installed} installed, ${frr.lsas.same + frr.lsas.older} listed again${skipped(frr.issues.toJSON())}\n`);
    return { lsdb: frr.lsdb, nowMs: now };
  }
  const { readOspfCapture } = await import('../../topo/ospf/ospf-capture.js');
  const capture = await readOspfCapture(options.from);
  const packets = Object.values(capture.packets).reduce((a, b) => a + b, 0);
  process.stderr.write(
    `${options.from}: ${packets} OSPF packets (${Object.entries(capture.packets).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}); ` +
      `LSAs ${capture.lsas.installed} installed, ${capture.lsas.same + capture.lsas.older} heard again, ${capture.lsas.flushed} flushed${skipped(capture.issues.toJSON())}\n`,
  );
  // Ages as at the capture's end, so that an old capture is not all past MaxAge.
  return { lsdb: capture.lsdb, nowMs: capture.lastMs ?? Date.now() };
}


/** Where the traffic matrix comes from: a CSV file, the local store's flows, or the fleet's. */
export interface MatrixOptions extends Partial<import('../nats-cli-options.js').FleetAskCliOptions> {
  matrix?: string;
  flows?: boolean;
  dataDir: string;
  since?: string;
  between?: string;
  via: string;
}

/** Adds --matrix FILE, --flows (the local store) and --nats URL (the fleet) with their window and fleet options. */
export function addMatrixOptions(command: Command): Command {
  command
    .option('--matrix <file>', 'the traffic matrix: CSV with a header src,dst,bytes (optionally ,app,user)')
    .option('--flows', 'build the matrix from the flows in the local store (--data-dir; window: --since, --between)')
    .option('--nats <url>', "build the matrix from the fleet's flows: one signed query to every host over this NATS server (docs/fleet.md)")
    .option('--via <path>', 'with --nats: hosts (every host directly) or sites (through the site aggregators)', 'hosts');
  addWindowOptions(command);
  addDataDirOption(command);
  addFleetAskOptions(command);
  return command;
}

export interface LoadedMatrix {
  /** Demands per period ('' when not cut into periods), oldest first. */
  periods: Map<string, Demand[]>;
  /** From flows: how many pairs one or both ends saw (flow-matrix.ts); null for a CSV file. */
  coverage: import('../../topo/flow-matrix.js').MatrixCoverage | null;
}

/** The matrix named by the options; `periodS` cuts flows into periods (a CSV file is one period). */
export async function loadMatrix(options: MatrixOptions, periodS: number | null = null): Promise<LoadedMatrix> {
  const given = [options.matrix !== undefined, options.flows === true, options.nats !== undefined].filter(Boolean).length;
  if (given !== 1) throw new RangeError('Cannot tell where the traffic matrix comes from: give exactly one of --matrix FILE, --flows (the local store) and --nats URL (the fleet)');
  if (options.matrix !== undefined) {
    if (periodS !== null) throw new RangeError('Cannot cut a --matrix file into periods (--every): it has no times; use --flows or --nats');
    return { periods: new Map([['', await readMatrix(options.matrix)]]), coverage: null };
  }
  const { matrixSql, matrixFromRows } = await import('../../topo/flow-matrix.js');
  const sql = matrixSql(periodS);
  const { flowsAnswer } = await import('../fleet-ask.js');
  const { columns, rows: cells } = await flowsAnswer(options, sql, 'traffic matrix');
  const rows = cells.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i]])) as unknown as MatrixRow);
  return matrixFromRows(rows);
}

/** `--from if:NAME --adjacency`: the area's database from an adjacency with the LAN's DR (Ctrl-C stops sooner). */
async function adjacencySource(interfaceName: string, options: SourceOptions): Promise<{ lsdb: LinkStateDatabase; nowMs: number }> {
  const { parseDurationMs } = await import('../../common/duration.js');
  const waitMs = parseDurationMs(options.listen ?? '60s', '--listen');
  const holdMs = parseDurationMs(options.hold ?? '0s', '--hold');
  if (!(waitMs > 0)) throw new RangeError(`Cannot use --listen ${JSON.stringify(options.listen)}: it must be longer than zero`);
  if (options.routerId !== undefined && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(options.routerId)) throw new RangeError(`Cannot use --router-id ${JSON.stringify(options.routerId)}: a router ID is a dotted quad such as 10.0.0.250`);
  const { formAdjacency } = await import('../../topo/ospf/ospf-adjacency-listener.js');
  const abort = new AbortController();
  const interrupt = (): void => abort.abort();
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    process.stderr.write(`joining the LAN on ${interfaceName} as a stub router (RFC 6987: maximum metric, no routes installed); at most ${waitMs / 1000} s\n`);
    const joined = await formAdjacency(interfaceName, {
      routerId: options.routerId, waitMs, holdMs, signal: abort.signal,
      log: (line) => process.stderr.write(`if:${interfaceName}: ${line}\n`),
    });
    const packets = Object.values(joined.packets).reduce((a, b) => a + b, 0);
    const issues = Object.entries(joined.issues.toJSON());
    process.stderr.write(
      `if:${interfaceName}: ${joined.complete ? `database complete in ${((joined.completeAfterMs ?? 0) / 1000).toFixed(1)} s` : 'stopped before the database was complete'}, as ${joined.routerId ?? '-'}; ` +
        `neighbours ${joined.neighbors.map((n) => `${n.routerId}${n.role ? ` (${n.role})` : ''} ${n.state}`).join(', ') || 'none'}; ` +
        `${packets} OSPF packets (${Object.entries(joined.packets).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}); ` +
        `LSAs ${joined.lsas.installed} installed, ${joined.lsas.same + joined.lsas.older} heard again, ${joined.lsas.flushed} flushed` +
        (issues.length > 0 ? `; skipped: ${issues.map(([k, n]) => `${n} ${k}`).join(', ')}` : '') + '\n',
    );
    return { lsdb: joined.lsdb, nowMs: Date.now() };
  } finally {
    process.removeListener('SIGINT', interrupt);
    process.removeListener('SIGTERM', interrupt);
  }
}

/** `--from if:NAME`: the database heard on NAME for --listen (Ctrl-C stops sooner). */
async function listenSource(interfaceName: string, listen: string): Promise<{ lsdb: LinkStateDatabase; nowMs: number }> {
  const { parseDurationMs } = await import('../../common/duration.js');
  const durationMs = parseDurationMs(listen, '--listen');
  if (!(durationMs > 0)) throw new RangeError(`Cannot use --listen ${JSON.stringify(listen)}: it must be longer than zero`);
  const { listenOspf } = await import('../../topo/ospf/ospf-listener.js');
  const abort = new AbortController();
  const interrupt = (): void => abort.abort();
  process.once('SIGINT', interrupt);
  try {
    const heard = await listenOspf(interfaceName, {
      durationMs,
      signal: abort.signal,
      onListening: () => process.stderr.write(`listening on ${interfaceName} for ${durationMs / 1000} s (Ctrl-C stops sooner and keeps what was heard)\n`),
    });
    const packets = Object.values(heard.packets).reduce((a, b) => a + b, 0);
    const issues = Object.entries(heard.issues.toJSON());
    process.stderr.write(
      `if:${interfaceName}: ${packets} OSPF packets (${Object.entries(heard.packets).map(([k, n]) => `${n} ${k}`).join(', ') || 'none'}); ` +
        `LSAs ${heard.lsas.installed} installed, ${heard.lsas.same + heard.lsas.older} heard again, ${heard.lsas.flushed} flushed` +
        (issues.length > 0 ? `; skipped: ${issues.map(([k, n]) => `${n} ${k}`).join(', ')}` : '') + '\n',
    );
    return { lsdb: heard.lsdb, nowMs: Date.now() };
  } finally {
    process.removeListener('SIGINT', interrupt);
  }
}
