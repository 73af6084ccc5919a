/**
 * One host's traffic for the console (GET /api/host, issue 7: "click a router or a host to see its
 * traffic"): from the map's matrix (what the map draws: bytes sent and received, by peer, application
 * and user, and per period), and from the flows of the store or the fleet over a window (the same by
 * peer, application, user and process, and per time bucket).
 *
 * The flows hold a connection's bytes once per end that runs an agent: the sender's record (direction
 * out) and the receiver's (direction in). As the matrix does (flow-matrix.ts), each direction of each
 * peer and application in each time bucket counts the larger of the two views, so a flow seen from
 * both ends counts once; on a tie the host's own record is taken, so its users and processes are the
 * ones shown.
 */
import { sqlString } from '../common/sql-string.js';
import { APPLICATION_SQL } from '../query/application-sql.js';
import type { CellValue, QueryColumn } from '../query/index.js';
import type { NetworkView } from '../topo/network-view.js';

export interface HostRow {
  key: string | null;
  sent: number;
  received: number;
  /** Flow records counted (the flows' part only). */
  flows?: number;
}

export interface HostBreakdown {
  sent: number;
  received: number;
  peers: HostRow[];
  apps: HostRow[];
  users: HostRow[];
  /** How many rows each list had before `top` cut it. */
  counts: { peers: number; apps: number; users: number; processes?: number };
}

/** The matrix's part: the demands with the host at one end. `periods`: each period's bytes (sent plus received). */
export function hostOfMatrix(view: NetworkView, addr: string, top: number, periods: readonly NetworkView[]): HostBreakdown & { router: string | null; series: number[] | null } {
  const peers = new Rows();
  const apps = new Rows();
  const users = new Rows();
  let sent = 0;
  let received = 0;
  for (const d of view.demands) {
    if (!(d.bytes > 0) || (d.src !== addr && d.dst !== addr)) continue;
    // A host talking to itself sends and receives the same bytes.
    const out = d.src === addr ? d.bytes : 0;
    const into = d.dst === addr ? d.bytes : 0;
    sent += out;
    received += into;
    peers.add(d.src === addr ? d.dst : d.src, out, into);
    apps.add(d.app ?? null, out, into);
    users.add(d.user ?? null, out, into);
  }
  const series = periods.length === 0 ? null : periods.map((p) => p.demands.reduce((sum, d) => sum + (d.bytes > 0 ? (d.src === addr ? d.bytes : 0) + (d.dst === addr ? d.bytes : 0) : 0), 0));
  const router = view.model.attachmentOf(addr);
  return {
    router: router === undefined ? null : view.model.ids[router],
    sent: round(sent), received: round(received),
    peers: peers.top(top), apps: apps.top(top), users: users.top(top),
    counts: { peers: peers.size, apps: apps.size, users: users.size },
    series,
  };
}

/** The time buckets of a window: about 24 of them, of a round length. */
export function bucketSeconds(windowMs: number): number {
  const steps = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800];
  return steps.find((s) => s * 1000 * 24 >= windowMs) ?? steps[steps.length - 1];
}

/**
 * The flows' part as one query (one scan of the window on each host): per time bucket, peer,
 * direction (sent or received by the host), view (the sender's or the receiver's record),
 * application, user and process, the bytes and records. `addr` must be a checked address.
 */
export function hostFlowsSql(addr: string, bucketS: number): string {
  const a = sqlString(addr);
  return (
    `SELECT time_bucket(INTERVAL '${bucketS} seconds', start_time) AS period, ` +
    `CASE WHEN src_addr = ${a} THEN dst_addr ELSE src_addr END AS peer, ` +
    `CASE WHEN src_addr = ${a} THEN 'sent' ELSE 'received' END AS way, ` +
    `CASE WHEN direction = 'in' THEN 'receiver' ELSE 'sender' END AS seen_by, ` +
    `${APPLICATION_SQL} AS app, username AS "user", process, ` +
    `sum(bytes)::DOUBLE AS bytes, count(*)::DOUBLE AS flows ` +
    `FROM flows WHERE src_addr = ${a} OR dst_addr = ${a} GROUP BY ALL`
  );
}

/** The flows' part from hostFlowsSql's answer: each direction of each peer and application in each bucket counted once (the larger view). */
export function hostOfFlows(columns: readonly QueryColumn[], cells: readonly CellValue[][], top: number): HostBreakdown & { processes: HostRow[]; flows: number; times: { start: string; sent: number; received: number }[] } {
  const at = (name: string): number => columns.findIndex((c) => c.name === name);
  const [iPeriod, iPeer, iWay, iSeen, iApp, iUser, iProcess, iBytes, iFlows] = ['period', 'peer', 'way', 'seen_by', 'app', 'user', 'process', 'bytes', 'flows'].map(at);
  // Per bucket, peer, direction and application (as the matrix groups them): the two views' rows.
  const groups = new Map<string, { period: string; peer: string; sent: boolean; sender: CellValue[][]; receiver: CellValue[][] }>();
  for (const row of cells) {
    const period = String(row[iPeriod]);
    const sent = row[iWay] === 'sent';
    const id = `${period}\u0000${String(row[iPeer])}\u0000${sent}\u0000${String(row[iApp])}`;
    let group = groups.get(id);
    if (!group) groups.set(id, (group = { period, peer: String(row[iPeer]), sent, sender: [], receiver: [] }));
    (row[iSeen] === 'receiver' ? group.receiver : group.sender).push(row);
  }
  const peers = new Rows();
  const apps = new Rows();
  const users = new Rows();
  const processes = new Rows();
  const times = new Map<string, { sent: number; received: number }>();
  let sent = 0;
  let received = 0;
  let flows = 0;
  const bytesOf = (rows: CellValue[][]): number => rows.reduce((sum, r) => sum + Number(r[iBytes]), 0);
  for (const group of groups.values()) {
    // The host's own record: the sender's when it sent, the receiver's when it received.
    const own = group.sent ? group.sender : group.receiver;
    const other = group.sent ? group.receiver : group.sender;
    const chosen = bytesOf(own) >= bytesOf(other) ? own : other;
    for (const row of chosen) {
      const bytes = Number(row[iBytes]);
      const count = Number(row[iFlows]);
      const [out, into] = group.sent ? [bytes, 0] : [0, bytes];
      sent += out;
      received += into;
      flows += count;
      peers.add(group.peer, out, into, count);
      apps.add(row[iApp] as string | null, out, into, count);
      users.add(row[iUser] as string | null, out, into, count);
      processes.add(row[iProcess] as string | null, out, into, count);
      const time = times.get(group.period) ?? { sent: 0, received: 0 };
      time.sent += out;
      time.received += into;
      times.set(group.period, time);
    }
  }
  return {
    sent: round(sent), received: round(received), flows,
    peers: peers.top(top), apps: apps.top(top), users: users.top(top), processes: processes.top(top),
    counts: { peers: peers.size, apps: apps.size, users: users.size, processes: processes.size },
    times: [...times].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([start, t]) => ({ start, sent: round(t.sent), received: round(t.received) })),
  };
}

/** Rows keyed by one value, most bytes first. */
class Rows {
  private readonly rows = new Map<string | null, HostRow>();
  get size(): number {
    return this.rows.size;
  }
  add(key: string | null, sent: number, received: number, flows?: number): void {
    let row = this.rows.get(key);
    if (!row) this.rows.set(key, (row = { key, sent: 0, received: 0, ...(flows === undefined ? {} : { flows: 0 }) }));
    row.sent += sent;
    row.received += received;
    if (flows !== undefined) row.flows = (row.flows ?? 0) + flows;
  }
  top(n: number): HostRow[] {
    return [...this.rows.values()]
      .sort((a, b) => b.sent + b.received - (a.sent + a.received) || String(a.key).localeCompare(String(b.key)))
      .slice(0, n)
      .map((r) => ({ ...r, sent: round(r.sent), received: round(r.received) }));
  }
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}
