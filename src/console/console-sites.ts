/**
 * The coverage of each site for the console's Fleet tab (GET /api/site-coverage, issue 7: "Fleet
 * page: … coverage of each site"): what share of a site's hosts run an agent.
 *
 * The fleet knows its agents (the `hosts` table: id, site, addresses) but not the hosts without
 * one; those show up only in the agents' flows. A site's hosts are taken to be its agents and the
 * addresses its agents talk to in their own subnets: the /24 (IPv4) or /64 (IPv6) of the agent's
 * address in each record (the sender's for direction out, the receiver's for in), less the subnet's
 * .0 and .255 (broadcasts, not hosts). A neighbour that is the address of any agent of the fleet
 * has one. The share is an upper bound: a host without an agent that talks only to other hosts
 * without one is never seen, and neither is one on a subnet where no agent of the site sits.
 */
import type { CellValue, QueryColumn } from '../query/index.js';

/**
 * Per reporting agent and neighbour (an address in the agent's own subnet): bytes and records.
 * IPv4 compares the first three numbers as text (cheap, per record); IPv6 the first 64 bits
 * (ip_bits, sql-macros.ts), so any spelling of an address matches.
 */
export const SITE_NEIGHBOURS_SQL =
  "SELECT host, CASE WHEN direction = 'out' THEN dst_addr ELSE src_addr END AS neighbour, sum(bytes)::DOUBLE AS bytes, count(*)::DOUBLE AS flows FROM flows " +
  "WHERE direction IN ('out', 'in') AND CASE WHEN contains(src_addr, ':') THEN contains(dst_addr, ':') AND left(ip_bits(src_addr), 64) = left(ip_bits(dst_addr), 64) " +
  "ELSE NOT contains(dst_addr, ':') AND string_split(src_addr, '.')[1:3] = string_split(dst_addr, '.')[1:3] " +
  "AND split_part(CASE WHEN direction = 'out' THEN dst_addr ELSE src_addr END, '.', 4) NOT IN ('0', '255') END " +
  'GROUP BY ALL';

/** The agents the coverage needs from the hosts table. */
export const SITE_AGENTS_SQL = 'SELECT id, site, addresses FROM hosts';

export interface SiteCoverage {
  site: string | null;
  agents: number;
  /** Addresses in the agents' subnets, seen in their flows, that no agent of the fleet has. */
  without_agent: number;
  /** agents + without_agent. */
  hosts_seen: number;
  /** agents / hosts_seen (an upper bound). */
  share_with_agent: number;
  /** The hosts without an agent, most bytes first (the first `top`): where an agent would see most. */
  hosts_without_agent: { addr: string; bytes: number; flows: number; agents: number }[];
}

/** Each site's coverage from the hosts table's rows (SITE_AGENTS_SQL) and the neighbours' (SITE_NEIGHBOURS_SQL). */
export function siteCoverage(
  agents: { columns: readonly QueryColumn[]; rows: readonly CellValue[][] },
  neighbours: { columns: readonly QueryColumn[]; rows: readonly CellValue[][] },
  top: number,
): SiteCoverage[] {
  const col = (answer: { columns: readonly QueryColumn[] }, name: string): number => answer.columns.findIndex((c) => c.name === name);
  const [iId, iSite, iAddresses] = ['id', 'site', 'addresses'].map((n) => col(agents, n));
  const siteOf = new Map<string, string | null>();
  const agentAddresses = new Set<string>();
  const count = new Map<string | null, number>();
  for (const row of agents.rows) {
    const site = row[iSite] === null ? null : String(row[iSite]);
    siteOf.set(String(row[iId]), site);
    count.set(site, (count.get(site) ?? 0) + 1);
    for (const address of (row[iAddresses] as string[] | null) ?? []) agentAddresses.add(address);
  }
  const [iHost, iNeighbour, iBytes, iFlows] = ['host', 'neighbour', 'bytes', 'flows'].map((n) => col(neighbours, n));
  // Per site, each neighbour without an agent: its bytes and records with the site's agents, and how many of them saw it.
  const seen = new Map<string | null, Map<string, { bytes: number; flows: number; agents: Set<string> }>>();
  for (const row of neighbours.rows) {
    const host = String(row[iHost]);
    const addr = String(row[iNeighbour]);
    if (!siteOf.has(host) || agentAddresses.has(addr)) continue;
    const site = siteOf.get(host)!;
    let list = seen.get(site);
    if (!list) seen.set(site, (list = new Map()));
    const held = list.get(addr) ?? { bytes: 0, flows: 0, agents: new Set<string>() };
    held.bytes += Number(row[iBytes]);
    held.flows += Number(row[iFlows]);
    held.agents.add(host);
    list.set(addr, held);
  }
  return [...count]
    .sort(([a], [b]) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1))
    .map(([site, agentCount]) => {
      const without = seen.get(site) ?? new Map();
      const hostsSeen = agentCount + without.size;
      return {
        site,
        agents: agentCount,
        without_agent: without.size,
        hosts_seen: hostsSeen,
        share_with_agent: agentCount / hostsSeen,
        hosts_without_agent: [...without]
          .sort(([a, x], [b, y]) => y.bytes - x.bytes || (a < b ? -1 : 1))
          .slice(0, top)
          .map(([addr, v]) => ({ addr, bytes: v.bytes, flows: v.flows, agents: v.agents.size })),
      };
    });
}
