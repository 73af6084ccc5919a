/**
 * The traffic matrix from stored flows (issue 5, "from the fleet query plane: bytes between endpoints
 * over a window"), per period for loads over time.
 *
 * A flow between two instrumented hosts is recorded twice, by its sender (`out`) and its receiver
 * (`in`); between an instrumented host and anything else, once. Each host's query sums the two views
 * apart, per pair and application, and the matrix takes the larger of the two: both ends seen, they
 * agree up to what one end dropped; one end seen, the other view is zero. Records of capture files
 * (`unknown`) and of forwarded traffic (`transit`) count with the sender's view. The query's result
 * merges across hosts as any GROUP BY does, so the same SQL serves the local store and the fleet.
 *
 * The application: the protocol and the lower port (application-sql.ts).
 */
import { APPLICATION_SQL } from '../query/application-sql.js';
import type { Demand } from './link-loads.js';

/** The SQL each store runs; `periodS` cuts the window into periods of that many seconds. IPv4 only (OSPFv2). */
export function matrixSql(periodS: number | null): string {
  const period = periodS === null ? '' : `time_bucket(INTERVAL '${Math.round(periodS)} seconds', start_time) AS period, `;
  return (
    `SELECT ${period}src_addr AS src, dst_addr AS dst, ` +
    `${APPLICATION_SQL} AS app, ` +
    `username AS "user", ` +
    `sum(CASE WHEN direction = 'in' THEN 0 ELSE bytes END)::DOUBLE AS sent, ` +
    `sum(CASE WHEN direction = 'in' THEN bytes ELSE 0 END)::DOUBLE AS received ` +
    `FROM flows WHERE strpos(src_addr, ':') = 0 AND strpos(dst_addr, ':') = 0 GROUP BY ALL`
  );
}

export interface MatrixRow {
  period?: string | null;
  src: string;
  dst: string;
  app: string | null;
  user: string | null;
  sent: number;
  received: number;
}

/** How many pairs each count of instrumented ends saw, and how far the two views of the pairs seen twice disagree. */
export interface MatrixCoverage {
  pairs: number;
  seenByBoth: number;
  seenBySenderOnly: number;
  seenByReceiverOnly: number;
  /** Bytes the matrix holds, and the sum over pairs seen twice of |sent − received|. */
  bytes: number;
  disagreementBytes: number;
  /**
   * Endpoints known to be instrumented (the sender of a pair with sent bytes, the receiver of one with
   * received bytes) over every endpoint in the matrix. An upper bound: uninstrumented endpoints that
   * talk only among themselves never appear.
   */
  instrumentedFraction: number;
}

/** The matrix per period ('' without periods), oldest first, and the coverage over all periods. */
export function matrixFromRows(rows: readonly MatrixRow[]): { periods: Map<string, Demand[]>; coverage: MatrixCoverage } {
  interface Pair { period: string; src: string; dst: string; app: string | null; sent: number; received: number; users: Map<string | null, { sent: number; received: number }> }
  const pairs = new Map<string, Pair>();
  for (const row of rows) {
    const period = row.period ?? '';
    const id = `${period}\u0000${row.src}\u0000${row.dst}\u0000${row.app ?? ''}`;
    let pair = pairs.get(id);
    if (!pair) pairs.set(id, (pair = { period, src: row.src, dst: row.dst, app: row.app, sent: 0, received: 0, users: new Map() }));
    const sent = Number(row.sent) || 0;
    const received = Number(row.received) || 0;
    pair.sent += sent;
    pair.received += received;
    const user = pair.users.get(row.user) ?? { sent: 0, received: 0 };
    user.sent += sent;
    user.received += received;
    pair.users.set(row.user, user);
  }
  const coverage: MatrixCoverage = { pairs: 0, seenByBoth: 0, seenBySenderOnly: 0, seenByReceiverOnly: 0, bytes: 0, disagreementBytes: 0, instrumentedFraction: 0 };
  const endpoints = new Set<string>();
  const instrumented = new Set<string>();
  const periods = new Map<string, Demand[]>();
  for (const pair of [...pairs.values()].sort((a, b) => (a.period < b.period ? -1 : a.period > b.period ? 1 : 0))) {
    const useSent = pair.sent >= pair.received;
    const bytes = useSent ? pair.sent : pair.received;
    if (!(bytes > 0)) continue;
    coverage.pairs++;
    coverage.bytes += bytes;
    endpoints.add(pair.src).add(pair.dst);
    if (pair.sent > 0) instrumented.add(pair.src);
    if (pair.received > 0) instrumented.add(pair.dst);
    const seenBy = pair.sent > 0 && pair.received > 0 ? 2 : 1;
    const disagreement = seenBy === 2 ? Math.abs(pair.sent - pair.received) : 0;
    if (seenBy === 2) {
      coverage.seenByBoth++;
      coverage.disagreementBytes += Math.abs(pair.sent - pair.received);
    } else if (pair.sent > 0) {
      coverage.seenBySenderOnly++;
    } else {
      coverage.seenByReceiverOnly++;
    }
    let list = periods.get(pair.period);
    if (!list) periods.set(pair.period, (list = []));
    // The users of the view the matrix took, each with its part of the bytes.
    for (const [user, views] of pair.users) {
      const part = useSent ? views.sent : views.received;
      if (part > 0) list.push({ src: pair.src, dst: pair.dst, bytes: part, app: pair.app, user, seenBy, disagreement: (disagreement * part) / bytes });
    }
  }
  coverage.instrumentedFraction = endpoints.size === 0 ? 0 : instrumented.size / endpoints.size;
  return { periods, coverage };
}
