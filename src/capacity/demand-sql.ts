/**
 * The SQL each store runs for the demand model: per reporting host, step and application (and
 * process, when asked), the bytes of the flows that start in the step. Only sums, so the fleet
 * merges it exactly as any GROUP BY (the coordinator adds the hosts' partial sums per group), and
 * the result is at most hosts × steps × applications rows, whatever the number of flows.
 *
 * A record's bytes count in the step its first packet falls in. Records end at the agent's active
 * timeout (30 minutes by default), so a long transfer is a chain of records and its bytes spread over
 * the steps it spans; with steps shorter than the records, the bytes of one record land in its first
 * step (docs/capacity.md).
 *
 * The step is the integer (epoch_us(start_time) − window start) // step, computed on the host: exact
 * (no floating point, no time zone) and the same on every host. Bytes are summed as DOUBLE, exact up
 * to 2^53 bytes (9 PB) per group.
 */
import { APPLICATION_SQL } from '../query/application-sql.js';
import { applicationsCondition, type ApplicationSpec } from './application-spec.js';
import type { StepWindow } from './capacity-window.js';

/** The condition that keeps the flows starting inside the window's steps, of `apps` (none: all). */
export function windowCondition(window: StepWindow, apps: readonly ApplicationSpec[]): string {
  return `start_time >= make_timestamp(${window.startUs}) AND start_time < make_timestamp(${window.endUs}) AND ${applicationsCondition(apps)}`;
}

/** Per host, step, application (and process): bytes. */
export function demandSql(window: StepWindow, apps: readonly ApplicationSpec[], byProcess: boolean): string {
  return (
    `SELECT host, (epoch_us(start_time) - ${window.startUs}) // ${window.stepUs} AS step, ${APPLICATION_SQL} AS app, ` +
    `${byProcess ? 'process, ' : ''}sum(bytes)::DOUBLE AS bytes ` +
    `FROM flows WHERE ${windowCondition(window, apps)} GROUP BY ALL`
  );
}

/**
 * The servers of `app`: the addresses that serve its port, i.e. the end of each flow whose port is
 * the lower one (the application's port, APPLICATION_SQL), with their bytes. IPv4 only, as the
 * network view (OSPFv2). When both ends use the port (53 to 53), the source.
 */
export function serversSql(window: StepWindow, app: ApplicationSpec): string {
  if (app.port === null) throw new RangeError(`Cannot move ${app.name}: it has no port, so no end of its flows is its server (move tcp/PORT, udp/PORT or sctp/PORT)`);
  return (
    `SELECT CASE WHEN src_port = ${app.port} THEN src_addr ELSE dst_addr END AS server, sum(bytes)::DOUBLE AS bytes ` +
    `FROM flows WHERE ${windowCondition(window, [app])} AND strpos(src_addr, ':') = 0 AND strpos(dst_addr, ':') = 0 GROUP BY ALL`
  );
}
