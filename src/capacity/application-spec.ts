/**
 * An application as the command line names it (`--app tcp/443`, `--move tcp/443=…`): the same text
 * APPLICATION_SQL gives a flow (the protocol and the lower of its two ports), turned into the SQL
 * condition that selects that application's flows. The condition tests the columns directly
 * (`proto = 6 AND least(src_port, dst_port) = 443`) rather than comparing APPLICATION_SQL's text, so
 * that the store can prune on `proto` and the ports.
 */

const PORTED: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };
const UNPORTED: Record<string, number> = { icmp: 1, icmpv6: 58 };

export interface ApplicationSpec {
  /** As APPLICATION_SQL writes it, e.g. `tcp/443`, `icmp`, `ip47`. */
  name: string;
  protocol: number;
  /** The lower port, for TCP, UDP and SCTP. */
  port: number | null;
  /** SQL over `flows` that holds for this application's flows. */
  condition: string;
}

/** Reads `tcp/443`, `udp/53`, `sctp/2905`, `icmp`, `icmpv6` or `ipN` (another IP protocol); `option` names the flag in errors. */
export function parseApplication(text: string, option = '--app'): ApplicationSpec {
  const value = text.trim().toLowerCase();
  const fail = (): never => {
    throw new RangeError(`Cannot read ${option} ${JSON.stringify(text)}: expected an application as tcp/443, udp/53, sctp/PORT, icmp, icmpv6 or ipN (the protocol and the lower port, as the app column shows)`);
  };
  const ported = /^(tcp|udp|sctp)\/(\d{1,5})$/.exec(value);
  if (ported) {
    const port = Number(ported[2]);
    if (port > 65535) fail();
    const protocol = PORTED[ported[1]];
    return { name: `${ported[1]}/${port}`, protocol, port, condition: `(proto = ${protocol} AND least(src_port, dst_port) = ${port})` };
  }
  if (value in UNPORTED) return { name: value, protocol: UNPORTED[value], port: null, condition: `proto = ${UNPORTED[value]}` };
  const other = /^ip(\d{1,3})$/.exec(value);
  // ipN for the protocols APPLICATION_SQL does not name (it writes tcp, udp, sctp, icmp and icmpv6 by name).
  if (other && Number(other[1]) <= 255 && ![...Object.values(PORTED), ...Object.values(UNPORTED)].includes(Number(other[1]))) {
    return { name: `ip${Number(other[1])}`, protocol: Number(other[1]), port: null, condition: `proto = ${Number(other[1])}` };
  }
  return fail();
}

/** The condition for any of `apps` (none: every flow). */
export function applicationsCondition(apps: readonly ApplicationSpec[]): string {
  return apps.length === 0 ? 'true' : `(${apps.map((a) => a.condition).join(' OR ')})`;
}
