/**
 * The SQL of "who used this subnet or address" (issue 9, network auditing): every flow to or from it,
 * grouped by reporting host, user, process and application, with bytes, flows and the first and
 * last time, most bytes first. One statement for `endsight audit` and the console's GET /api/audit,
 * on one store or as one fleet query.
 */
import { sqlString } from '../common/sql-string.js';
import { APPLICATION_SQL } from '../query/application-sql.js';
import { parseCidr } from '../decode/prefix.js';

export type AuditSubject = { subnet: string } | { address: string };

/** Checks the subject (one error line naming what is wrong) and returns the query. */
export function auditSql(subject: AuditSubject, top: number): string {
  let condition: string;
  if ('subnet' in subject) {
    if (parseCidr(subject.subnet) === null) throw new RangeError(`Cannot audit subnet ${JSON.stringify(subject.subnet)}: expected a prefix such as 10.20.0.0/16 or fd00::/8`);
    condition = `(in_cidr(src_addr, ${sqlString(subject.subnet)}) OR in_cidr(dst_addr, ${sqlString(subject.subnet)}))`;
  } else {
    if (parseCidr(subject.address) === null || subject.address.includes('/')) throw new RangeError(`Cannot audit address ${JSON.stringify(subject.address)}: expected an IPv4 or IPv6 address`);
    condition = `(src_addr = ${sqlString(subject.address)} OR dst_addr = ${sqlString(subject.address)})`;
  }
  return (
    `SELECT host, username, process, ${APPLICATION_SQL} AS app, sum(bytes) AS bytes, count(*) AS flows, min(start_time) AS first, max(end_time) AS last ` +
    `FROM flows WHERE ${condition} GROUP BY ALL ORDER BY bytes DESC, host LIMIT ${top}`
  );
}
