/** `endsight capacity --move`: the moved applications' demand and its projection onto links (capacity/link-projection.ts). */
import type { CellValue, QueryColumn } from '../../query/index.js';
import type { ApplicationSpec } from '../../capacity/application-spec.js';
import { betweenText, stepStart, type StepWindow } from '../../capacity/capacity-window.js';
import type { Demand } from '../../topo/link-loads.js';
import type { MatrixRow } from '../../topo/flow-matrix.js';
import type { FleetAskOptions } from '../fleet-ask.js';
import { round } from './capacity-command.js';

type Asked = Partial<FleetAskOptions> & { dataDir: string; since?: string; between?: string };

export interface ProjectionSettings {
  top: number;
  binSteps: number;
  horizonS: number;
  area: string;
  topology: string;
  capacity?: string;
}

/** The traffic matrix (counted as topo links counts it) of the flows starting in `window` for which `condition` holds, per step or whole. */
async function matrixOf(asked: Asked, window: StepWindow, condition: string, perStep: boolean, label: string): Promise<Map<string, Demand[]>> {
  const { flowsAnswer } = await import('../fleet-ask.js');
  const { matrixSqlWhere } = await import('../../capacity/window-matrix.js');
  const { windowCondition } = await import('../../capacity/demand-sql.js');
  const { matrixFromRows } = await import('../../topo/flow-matrix.js');
  const sql = matrixSqlWhere(perStep ? window.stepUs / 1e6 : null, `${windowCondition(window, [])} AND ${condition}`);
  const { columns, rows } = await flowsAnswer({ ...asked, between: betweenText(window) }, sql, label);
  return matrixFromRows(rows.map((row) => Object.fromEntries(columns.map((c, i) => [c.name, row[i]])) as unknown as MatrixRow)).periods;
}

export async function projectCapacity(asked: Asked, window: StepWindow, moves: readonly { app: ApplicationSpec; router: string }[], settings: ProjectionSettings): Promise<{ columns: QueryColumn[]; rows: CellValue[][] }> {
  const { applicationsCondition } = await import('../../capacity/application-spec.js');
  const { demandStatistics } = await import('../../capacity/demand-statistics.js');
  const { serversSql } = await import('../../capacity/demand-sql.js');
  const { checkMoveRouters, projectMoves } = await import('../../capacity/link-projection.js');
  const { flowsAnswer } = await import('../fleet-ask.js');
  const { readSource, readCapacities } = await import('./topo-inputs.js');
  const apps = moves.map((m) => m.app);
  const names = apps.map((a) => a.name).join(', ');
  // Read the network first: a wrong --topology fails before any query.
  const { lsdb, nowMs } = await readSource({ from: settings.topology, format: 'table' });
  checkMoveRouters(lsdb, moves.map((m) => ({ app: m.app.name, router: m.router })), nowMs);
  const capacities = settings.capacity === undefined ? null : await readCapacities(settings.capacity);

  // The moved applications' demand per step, each pair counted once, on every step of the window.
  const perStep = await matrixOf(asked, window, applicationsCondition(apps), true, `${names} per step`);
  const series = new Float64Array(window.steps);
  const stepOf = (period: string): number => {
    // time_bucket's periods start on the same boundaries as the window's steps (capacity-window.ts).
    const at = (Date.parse(period) * 1000 - window.startUs) / window.stepUs;
    if (!(Number.isInteger(at) && at >= 0 && at < window.steps)) throw new Error(`the matrix period ${period} is not a step of the window`);
    return at;
  };
  for (const [period, demands] of perStep) {
    const k = stepOf(period);
    for (const d of demands) series[k] += d.bytes;
  }
  const stepS = window.stepUs / 1e6;
  const stats = demandStatistics(series, stepS, settings.binSteps, settings.horizonS);
  if (stats.bytes === 0) throw new RangeError(`Cannot project ${names}: no IPv4 traffic of ${apps.length === 1 ? 'it' : 'them'} in the window`);
  process.stderr.write(
    `${names}: ${stats.bytes} bytes in ${window.steps} steps of ${stepS} s, mean ${round(stats.meanBps)} bit/s, peak ${round(stats.peakBps)} bit/s at ${stepStart(window, stats.peakStep)}, ` +
      `p95 ${round(stats.p95Bps)} bit/s${stats.projectedP95Bps === null ? '' : `, projected p95 ${round(stats.projectedP95Bps)} bit/s`}\n`,
  );

  // The servers of each application: the ends that use its port.
  const servers = await Promise.all(moves.map(async ({ app, router }) => {
    const answer = await flowsAnswer(asked, serversSql(window, app), `${app.name} servers`);
    const list = answer.rows.filter((r) => Number(r[1]) > 0).map((r) => String(r[0])).sort();
    process.stderr.write(`${app.name}: ${list.length} server${list.length === 1 ? '' : 's'} move to ${router}${list.length > 0 ? ` (${list.slice(0, 5).join(', ')}${list.length > 5 ? ', …' : ''})` : ''}\n`);
    return { app: app.name, router, servers: list };
  }));

  const peakWindow: StepWindow = { startUs: window.startUs + stats.peakStep * window.stepUs, endUs: window.startUs + (stats.peakStep + 1) * window.stepUs, stepUs: window.stepUs, steps: 1 };
  const peak = perStep.get([...perStep.keys()].find((p) => stepOf(p) === stats.peakStep)!) ?? [];
  // The window's pairs scaled so that they add up to the p95 step's bytes.
  const scale = (stats.p95Bps * stepS) / 8 / stats.bytes;
  const p95 = [...perStep.values()].flat().map((d) => ({ ...d, bytes: d.bytes * scale }));
  const total = [...(await matrixOf(asked, peakWindow, 'true', false, 'all traffic in the peak step')).values()].flat();

  const projection = projectMoves({ lsdb, nowMs, area: settings.area, moves: servers, stepS, peak, p95, total, capacities });
  const lost = (which: 'peak' | 'total', side: 0 | 1): string => {
    const r = projection.results[which][side];
    const unrouted = Object.entries(r.unrouted).filter(([, n]) => n > 0);
    return unrouted.length === 0 ? 'all routed' : `not routed: ${unrouted.map(([k, n]) => `${Math.round((n * 8) / stepS)} bit/s ${k}`).join(', ')}`;
  };
  process.stderr.write(`at the peak, ${names} before: ${lost('peak', 0)}; after: ${lost('peak', 1)}\n`);

  const withCapacity = capacities !== null;
  const columnNames = ['from', 'to', 'via', 'from_address', 'peak_before_bps', 'peak_after_bps', 'peak_change_bps', 'p95_before_bps', 'p95_after_bps', 'p95_change_bps', 'total_before_bps', 'total_after_bps', ...(withCapacity ? ['capacity_bps', 'before_utilisation', 'after_utilisation'] : [])];
  const utilisation = (bps: number, capacity: number | null): number | null => (capacity === null ? null : Number((bps / capacity).toFixed(4)));
  const rows = projection.links.slice(0, settings.top).map((l): CellValue[] => [
    l.link.from, l.link.to, l.link.via, l.link.fromAddress,
    round(l.peak[0]), round(l.peak[1]), round(l.peak[1] - l.peak[0]),
    round(l.p95[0]), round(l.p95[1]), round(l.p95[1] - l.p95[0]),
    round(l.total[0]), round(l.total[1]),
    ...(withCapacity ? [l.capacityBps, utilisation(l.total[0], l.capacityBps), utilisation(l.total[1], l.capacityBps)] : []),
  ]);
  return { columns: columnNames.map((name) => ({ name, type: ['from', 'to', 'via', 'from_address'].includes(name) ? 'VARCHAR' : 'DOUBLE' })), rows };
}
