/**
 * `endsight topo serve`: the network view as a JSON API over HTTP, for the console and for scripts
 * (docs/topo.md#the-json-api). Every answer is computed from one network and one matrix, read at
 * start and again every --refresh; a question that is wrong is a 400 with one error line.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { NetworkView } from '../../topo/network-view.js';
import type { ConsoleQuery, ConsoleQueryHandler } from '../../console/console-query.js';
import { CONSOLE_OPENAPI } from '../../console/openapi.js';

export interface ServeOptions {
  /** host:port */
  http: string;
  /** Re-read the network and the matrix this often (ms), or never. */
  refreshMs: number | null;
  /** When set, every /api request must carry it (`Authorization: Bearer TOKEN`, or `?token=`). */
  token?: string;
  /** An HTML page served at / (the console). */
  page?: string;
  /** Answers POST /api/query (the console's query page); without it the endpoint is a 404. */
  query?: ConsoleQueryHandler;
  /** Whether `query` asks the fleet (the console's --nats), which GET /api/fleet needs. */
  fleet?: boolean;
  /** The console's standing-query alerts (--alerts), for GET /api/alerts. */
  alerts?: Pick<import('../../console/console-alerts.js').ConsoleAlerts, 'list'>;
}

/** Above this many routers the console draws the map a level up (DETAIL_LIMIT in console-page.ts). */
const GROUPED_ABOVE = 400;

/** The largest query request body: a statement, not a data upload. */
const MAX_QUERY_BODY = 64 * 1024;

/** What is served: the view of the whole matrix, and (with --every) one per period, oldest first, over the same network. */
export interface ServedNetwork {
  view: NetworkView;
  periods: { name: string; view: NetworkView }[];
}

/** Starts serving; `load` builds the views (again at each refresh). Resolves once listening, with the address. */
export async function serveNetworkView(load: () => Promise<ServedNetwork>, options: ServeOptions, log: (line: string) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const match = /^(.+):(\d{1,5})$/.exec(options.http);
  if (!match || Number(match[2]) > 65535) throw new RangeError(`Cannot serve on --http ${JSON.stringify(options.http)}: expected host:port such as 127.0.0.1:9470`);
  const { TOP_DIMENSIONS, LINK_DIMENSIONS } = await import('../../topo/network-view.js');
  const { parseStep, WhatIfError } = await import('../../topo/whatif.js');
  const { groupRouters, groupLinks } = await import('../../topo/router-groups.js');
  let served = await load();
  let loadedAt = new Date();
  let refreshing = false;
  const timer = options.refreshMs === null ? null : setInterval(() => {
    if (refreshing) return;
    refreshing = true;
    load().then((next) => {
      served = next;
      loadedAt = new Date();
      log(`refreshed: ${next.view.demands.length} pairs, ${next.view.model.ids.length} routers${next.periods.length > 0 ? `, ${next.periods.length} periods` : ''}`);
    }, (error: Error) => log(`refresh failed, serving the previous data: ${error.message}`)).finally(() => (refreshing = false));
  }, options.refreshMs);
  /** The whole matrix's view, or with period=NAME that period's. */
  const viewOf = (params: URLSearchParams): NetworkView => {
    const name = params.get('period');
    if (name === null) return served.view;
    const period = served.periods.find((p) => p.name === name);
    if (!period) throw new BadRequest(`no period ${JSON.stringify(name)}: GET /api/periods lists them (the console needs --every)`, 404);
    return period.view;
  };
  // One grouping per network (the periods share it: same routers), and each view's bytes per edge.
  const groupings = new WeakMap<object, import('../../topo/router-groups.js').RouterGroups>();
  const groupsOf = (view: NetworkView): import('../../topo/router-groups.js').RouterGroups => {
    let grouping = groupings.get(view.lsdb);
    if (!grouping) groupings.set(view.lsdb, (grouping = groupRouters(view.model)));
    return grouping;
  };
  const edgeBytesCache = new WeakMap<NetworkView, Float64Array>();
  const edgeBytes = (view: NetworkView): Float64Array => {
    let bytes = edgeBytesCache.get(view);
    if (!bytes) {
      const loads = new Map(view.loads.links.map((l) => [`${l.from}>${l.to}|${l.via}|${l.fromAddress}`, l.bytes]));
      bytes = Float64Array.from(view.model.edgeList, (e) => loads.get(`${view.model.ids[e.from]}>${view.model.ids[e.to]}|${e.via}|${e.fromAddress}`) ?? 0);
      edgeBytesCache.set(view, bytes);
    }
    return bytes;
  };
  /** Each period's value of `valueOf` for every key, for sparklines (?series=true). */
  const seriesOf = <T>(params: URLSearchParams, rowsOf: (view: NetworkView) => T[], keyOf: (row: T) => string, valueOf: (row: T) => number): ((row: T) => number[]) | null => {
    const flag = params.get('series') ?? 'false';
    if (!['true', 'false'].includes(flag)) throw new BadRequest(`series must be true or false (got ${JSON.stringify(flag)})`);
    if (flag === 'false') return null;
    const maps = served.periods.map((period) => new Map(rowsOf(period.view).map((row) => [keyOf(row), valueOf(row)])));
    return (row) => maps.map((map) => map.get(keyOf(row)) ?? 0);
  };

  const topOf = (params: URLSearchParams): number => {
    const text = params.get('top') ?? '20';
    const top = Number(text);
    if (!Number.isInteger(top) || top < 1 || top > 100_000) throw new BadRequest(`top must be a whole number from 1 to 100000 (got ${JSON.stringify(text)})`);
    return top;
  };
  const oneOf = <T extends string>(params: URLSearchParams, name: string, allowed: readonly T[], fallback: T): T => {
    const value = (params.get(name) ?? fallback) as T;
    if (!allowed.includes(value)) throw new BadRequest(`${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
    return value;
  };
  const routerId = (params: URLSearchParams, name: string): string => {
    const value = params.get(name) ?? '';
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(value)) throw new BadRequest(`${name} must be a router ID such as 10.0.0.1 (got ${JSON.stringify(value)})`);
    return value;
  };
  const steps = (params: URLSearchParams): import('../../topo/whatif.js').WhatIfStep[] => {
    const out: import('../../topo/whatif.js').WhatIfStep[] = [];
    for (const kind of ['link-down', 'router-down', 'cost', 'move'] as const) {
      for (const text of params.getAll(kind)) {
        try {
          out.push(parseStep(kind, text));
        } catch (error) {
          throw new BadRequest((error as Error).message.replace(/^Cannot read --/, 'Cannot read '));
        }
      }
    }
    if (out.length === 0) throw new BadRequest('a what-if needs steps: link-down=A,B, router-down=A, cost=A,B=N or move=PREFIX=R (repeatable)');
    return out;
  };

  // Questions about the hosts table, one at a time: the coordinator refills the table for each, and
  // two at once could each see the other's rows (an agent counted twice).
  let registryTurn: Promise<unknown> = Promise.resolve();
  const inRegistryTurn = <T>(ask: () => Promise<T>): Promise<T> => {
    const asked = registryTurn.then(ask);
    registryTurn = asked.catch(() => undefined);
    return asked;
  };
  const askRegistry = (sql: string, maxRows?: number): ReturnType<ConsoleQueryHandler> => options.query!({ sql, target: 'all', maxRows }, () => undefined);

  const routes: Record<string, (params: URLSearchParams) => unknown> = {
    '/api': () => ({
      endpoints: {
        '/api/periods': 'the periods of the matrix (with --every), oldest first: the map\'s time slider',
        '/api/links?top=N[&period=P&series=true]': 'the most loaded links (most utilised first with capacities); series: bytes per period',
        '/api/top?by=host|src|dst|pair|app|user&top=N[&period=P&series=true]': 'the most communicating hosts, sources, destinations, pairs, applications or users',
        '/api/link?from=ID&to=ID[&address=A]&by=pair|src|dst|app|user|entry&top=N': 'what crosses one link (click-through; entry: where it enters the network)',
        '/api/whatif?link-down=A,B&cost=A,B=N&router-down=A&move=P=R&top=N[&groups=true]': 'the links a scenario changes, most changed first (groups: the aggregated map before and after)',
        '/api/tune?max=K': 'OSPF costs that lower the highest utilisation (the traffic-engineering search; needs --capacity and --window)',
        '/api/routes?router=ID': "one router's OSPF routes",
        '/api/path?src=A&dst=B': "the path of one pair's traffic: its share on each link it crosses",
        '/api/host?addr=A[&since=24h&target=T&top=N&period=P]': "one host's traffic: sent and received, by peer, application, user (and process, from the flows), over time",
        '/api/groups?[period=P]': 'the aggregated map of a large network: groups of routers around hubs, and the links between groups',
        '/api/group?id=N[&period=P&top=N]': 'one group: its routers, and its links (within it and out of it), most loaded first',
        '/api/graph?[period=P]': 'every router and link, with loads (the map), of the whole matrix or one period',
        '/api/columns': 'the columns of the flows table',
        '/api/fleet': 'every agent the coordinator hears, with its health (a console over the fleet)',
        '/api/site-coverage?[since=24h&target=T&top=N]': "the share of each site's hosts that run an agent (its agents, and the hosts their flows show in their subnets), with the hosts without one",
        '/api/alerts': "the console's standing-query alerts (--alerts): each watch's state, and the alerts fired, newest first",
        '/api/anomalies?[since=1h|between=A/B&target=T&top=N&all=true]': 'the most abnormal applications against each host\'s own history, with the evidence',
        '/api/coverage?[since=24h&target=T&trials=N&cover=0.99]': 'traffic seen against hosts instrumented, best-first and random, per application, with the chart',
        '/api/audit?subnet=CIDR|address=A[&since=4w&target=T&top=N]': 'who used a subnet or an address: hosts, users, processes, applications, with bytes and times',
        'POST /api/query {"sql": …, "target": …, "since": …}': 'one SQL statement over flows (the store, or the fleet with --nats); JSON lines of progress, then the result',
        '/api/openapi.json': 'all of this as an OpenAPI document',
      },
      loaded_at: loadedAt.toISOString(),
      routers: served.view.model.ids.length,
      pairs: served.view.demands.length,
      periods: served.periods.length,
    }),
    '/api/periods': () => ({
      periods: served.periods.map((p) => ({
        name: p.name, pairs: p.view.demands.length, routed_bytes: p.view.loads.routedBytes, max_link_bytes: Math.max(0, ...p.view.loads.links.map((l) => l.bytes)),
      })),
    }),
    '/api/path': async (p) => {
      // The path of one pair's traffic: its share on each link (equal-cost paths split it, RFC 2328 §16.1.1).
      const view = viewOf(p);
      const src = p.get('src') ?? '';
      const dst = p.get('dst') ?? '';
      const { parseCidr } = await import('../../decode/prefix.js');
      for (const [name, value] of [['src', src], ['dst', dst]] as const) {
        if (parseCidr(value)?.ipVersion !== 4 || value.includes('/')) throw new BadRequest(`${name} must be an IPv4 address (got ${JSON.stringify(value)})`);
      }
      const { routeDemands } = await import('../../topo/link-loads.js');
      const routed = routeDemands(view.model, [{ src, dst, bytes: 1 }]);
      const unrouted = Object.keys(routed.unrouted);
      return {
        src, dst,
        routed: routed.routedBytes > 0, local: routed.localBytes > 0, unrouted: unrouted.length > 0 ? unrouted[0] : null,
        links: routed.links.map((l) => ({ from: l.from, to: l.to, via: l.via, from_address: l.fromAddress, share: Math.round(l.bytes * 1e6) / 1e6 })).sort((a, b) => b.share - a.share),
      };
    },
    '/api/host': async (p) => {
      // One host's traffic (a click on a host): the map's matrix, and the flows of the store or the fleet over a window.
      const addr = p.get('addr') ?? '';
      const { parseCidr } = await import('../../decode/prefix.js');
      if (parseCidr(addr) === null || addr.includes('/')) throw new BadRequest(`addr must be an IPv4 or IPv6 address (got ${JSON.stringify(addr)})`);
      const view = viewOf(p);
      const top = topOf(p);
      const { hostOfMatrix, hostFlowsSql, hostOfFlows, bucketSeconds } = await import('../../console/console-host.js');
      const matrix = hostOfMatrix(view, addr, top, p.get('period') === null ? served.periods.map((x) => x.view) : []);
      if (!options.query) return { addr, router: matrix.router, matrix, flows: null };
      const since = p.get('since') || '24h';
      const { parseDurationMs } = await import('../../common/duration.js');
      let bucketS: number;
      try {
        bucketS = bucketSeconds(parseDurationMs(since, 'since'));
      } catch (error) {
        throw new BadRequest((error as Error).message);
      }
      try {
        const answer = await options.query({ sql: hostFlowsSql(addr, bucketS), target: p.get('target') ?? 'all', since, maxRows: Number.MAX_SAFE_INTEGER }, () => undefined);
        const { columns, rows, rows_cut: _cut, ...who } = answer;
        return { addr, router: matrix.router, matrix, flows: { since, bucket_s: bucketS, ...hostOfFlows(columns, rows, top), ...who } };
      } catch (error) {
        if (error instanceof RangeError || (error as Error).name === 'QueryError' || (error as Error).name === 'FleetQueryError') throw new BadRequest((error as Error).message);
        throw error;
      }
    },
    '/api/groups': (p) => {
      // The aggregated level: groups of routers and the links between them (router-groups.ts).
      const view = viewOf(p);
      const grouping = groupsOf(view);
      const bytes = edgeBytes(view);
      // The bytes of the links inside each group, in one pass over the links.
      const within = new Float64Array(grouping.groups.length);
      for (const e of view.model.edgeList) if (grouping.groupOf[e.from] === grouping.groupOf[e.to]) within[grouping.groupOf[e.from]] += bytes[e.id];
      return {
        routers: view.model.ids.length,
        routedBytes: view.loads.routedBytes,
        groups: grouping.groups.map((g, i) => ({ id: i, hub: g.hub, routers: g.routers.length, bytes_within: within[i] })),
        links: groupLinks(view.model, grouping, (id) => bytes[id]),
      };
    },
    '/api/group': (p) => {
      const view = viewOf(p);
      const grouping = groupsOf(view);
      const text = p.get('id') ?? '';
      const id = Number(text);
      if (!/^\d+$/.test(text) || id >= grouping.groups.length) throw new BadRequest(`id must be a group number from 0 to ${grouping.groups.length - 1} (GET /api/groups lists them; got ${JSON.stringify(text)})`);
      const bytes = edgeBytes(view);
      const members = new Set(grouping.groups[id].routers);
      const links = view.model.edgeList
        .filter((e) => members.has(view.model.ids[e.from]) || members.has(view.model.ids[e.to]))
        .map((e) => ({ from: view.model.ids[e.from], to: view.model.ids[e.to], via: e.via, from_address: e.fromAddress, bytes: bytes[e.id], within: members.has(view.model.ids[e.from]) && members.has(view.model.ids[e.to]) }))
        .sort((a, b) => b.bytes - a.bytes);
      return { id, hub: grouping.groups[id].hub, routers: grouping.groups[id].routers, links: links.slice(0, topOf(p)), link_count: links.length };
    },
    '/api/graph': (p) => {
      const view = viewOf(p);
      const loads = new Map(view.loads.links.map((l) => [`${l.from}>${l.to}|${l.via}|${l.fromAddress}`, l.bytes]));
      const rows = new Map(view.links(Number.MAX_SAFE_INTEGER).map((l) => [`${l.from}>${l.to}|${l.from_address}`, l]));
      return {
        routers: view.model.ids,
        routedBytes: view.loads.routedBytes,
        // Every link, loaded or not: the map draws them all.
        links: view.model.edgeList.map((e) => {
          const bytes = loads.get(`${view.model.ids[e.from]}>${view.model.ids[e.to]}|${e.via}|${e.fromAddress}`) ?? 0;
          const row = rows.get(`${view.model.ids[e.from]}>${view.model.ids[e.to]}|${e.fromAddress}`);
          return { from: view.model.ids[e.from], to: view.model.ids[e.to], via: e.via, from_address: e.fromAddress, cost: e.cost, bytes, utilisation: row?.utilisation ?? null };
        }),
      };
    },
    '/api/links': (p) => {
      const view = viewOf(p);
      const linkId = (l: { from: string; to: string; from_address: string }): string => `${l.from}>${l.to}|${l.from_address}`;
      const series = seriesOf(p, (v) => v.links(Number.MAX_SAFE_INTEGER), linkId, (l) => l.bytes);
      const links = view.links(topOf(p));
      return { routed_bytes: view.loads.routedBytes, local_bytes: view.loads.localBytes, unrouted: view.loads.unrouted, links: series ? links.map((l) => ({ ...l, series: series(l) })) : links };
    },
    '/api/top': (p) => {
      const view = viewOf(p);
      const by = oneOf(p, 'by', TOP_DIMENSIONS, 'host');
      const series = seriesOf(p, (v) => v.top(by, Number.MAX_SAFE_INTEGER), (r) => JSON.stringify(r.key), (r) => r.bytes);
      // Hosts say where they attach (the router of the longest prefix holding them), for the map to draw them there.
      const rows = view.top(by, topOf(p)).map((r) => {
        if (by !== 'host') return r;
        const at = view.model.attachmentOf(r.key.host ?? '');
        // Above 400 routers the map is drawn a level up: the group (of /api/groups) it is drawn beside.
        const group = at === undefined || view.model.ids.length <= GROUPED_ABOVE ? null : groupsOf(view).groupOf[at];
        return { ...r, router: at === undefined ? null : view.model.ids[at], group };
      });
      return { by, rows: series ? rows.map((r) => ({ ...r, series: series(r) })) : rows };
    },
    '/api/link': (p) => {
      const view = viewOf(p);
      const answer = view.link(routerId(p, 'from'), routerId(p, 'to'), p.get('address') ?? undefined, oneOf(p, 'by', LINK_DIMENSIONS, 'pair'), topOf(p));
      if ('error' in answer) throw new BadRequest(answer.error, 404);
      return answer;
    },
    '/api/whatif': (p) => {
      const flag = p.get('groups') ?? 'false';
      if (!['true', 'false'].includes(flag)) throw new BadRequest(`groups must be true or false (got ${JSON.stringify(flag)})`);
      try {
        const view = viewOf(p);
        if (flag === 'false') return view.whatIf(steps(p), topOf(p));
        // The aggregated map before and after (a large network's What-if), on the groups of /api/groups.
        const answer = view.whatIf(steps(p), Number.MAX_SAFE_INTEGER);
        const grouping = groupsOf(view);
        const { ids } = view.model;
        // A link that does not change keeps its exact bytes (whatIf's rows are rounded), so a group
        // link none of whose links changed is equal before and after.
        const changedTo = new Map(answer.links.filter((l) => l.change_bytes !== 0).map((l) => [`${l.from}>${l.to}|${l.via}|${l.from_address}`, l.bytes]));
        const before = edgeBytes(view);
        const after = Float64Array.from(view.model.edgeList, (e) => changedTo.get(`${ids[e.from]}>${ids[e.to]}|${e.via}|${e.fromAddress}`) ?? before[e.id]);
        const within = (bytes: Float64Array): number[] => {
          const sums = new Array<number>(grouping.groups.length).fill(0);
          for (const e of view.model.edgeList) if (grouping.groupOf[e.from] === grouping.groupOf[e.to]) sums[grouping.groupOf[e.from]] += bytes[e.id];
          return sums;
        };
        // groupLinks visits the links in one order, so both lists pair up index by index.
        const beforeLinks = groupLinks(view.model, grouping, (id) => before[id]);
        const afterLinks = groupLinks(view.model, grouping, (id) => after[id]);
        return {
          ...answer,
          links: answer.links.slice(0, topOf(p)),
          groups: {
            links: beforeLinks.map((l, i) => ({ from: l.from, to: l.to, links: l.links, before_bytes: l.bytes, bytes: afterLinks[i].bytes })),
            within_before: within(before),
            within_after: within(after),
            changed: changedTo.size,
          },
        };
      } catch (error) {
        if (error instanceof WhatIfError) throw new BadRequest(error.message);
        throw error;
      }
    },
    '/api/tune': async (p) => {
      const view = served.view;
      if (!view.capacity) throw new BadRequest('the traffic-engineering search needs link capacities: start the console with --capacity FILE and --window (or --since)');
      const text = p.get('max') ?? '3';
      const maxChanges = Number(text);
      if (!Number.isInteger(maxChanges) || maxChanges < 1 || maxChanges > 50) throw new BadRequest(`max must be a whole number from 1 to 50 (got ${JSON.stringify(text)})`);
      const { tuneCosts } = await import('../../topo/traffic-engineering.js');
      const result = tuneCosts(view.model, view.demands, { capacities: view.capacity.bps, windowS: view.capacity.windowS, maxChanges });
      return {
        changes: result.changes.map((c) => ({ router: c.router, address: c.address, toward: c.toward, before_cost: c.before, after_cost: c.after, step: `${c.router},${c.toward}=${c.after}` })),
        before: { max_utilisation: result.before.maxUtilisation, worst_link: result.worstBefore, links_over: result.before.linksOverTarget },
        after: { max_utilisation: result.after.maxUtilisation, worst_link: result.worstAfter, links_over: result.after.linksOverTarget },
        steps: result.steps,
      };
    },
    '/api/columns': async () => ({ columns: (await import('../../query/index.js')).FLOW_COLUMNS }),
    '/api/fleet': async () => {
      if (!options.query || !options.fleet) throw new BadRequest('this console answers from one store: start it with --nats (and --sign-key) to see the fleet');
      try {
        // The agents (the page lists the first MAX_CONSOLE_ROWS), and per site over all of them.
        // as_of is the moment silence is judged from: the page ages each row against it, not its own
        // clock, so a row is marked silent exactly when the count says so.
        const { asOf, hosts, sites } = await inRegistryTurn(async () => {
          const asOf = Date.now();
          const silentBefore = asOf - 10_000;
          const hosts = await askRegistry('SELECT * FROM hosts ORDER BY site NULLS FIRST, id');
          const sites = await askRegistry(`SELECT site, count(*) AS agents, count_if(epoch_ms(last_heartbeat) > ${silentBefore}) AS live, sum(packets) AS packets, sum(dropped) AS dropped FROM hosts GROUP BY site ORDER BY site NULLS FIRST`);
          return { asOf, hosts, sites };
        });
        const perSite = sites.rows.map((row) => Object.fromEntries(sites.columns.map((c, i) => [c.name, row[i]])) as { agents: number; live: number });
        const agents = perSite.reduce((sum, site) => sum + Number(site.agents), 0);
        return { ...hosts, sites: perSite, agents, silent: agents - perSite.reduce((sum, site) => sum + Number(site.live), 0), as_of: new Date(asOf).toISOString() };
      } catch (error) {
        if (error instanceof RangeError || (error as Error).name === 'QueryError' || (error as Error).name === 'FleetQueryError') throw new BadRequest((error as Error).message);
        throw error;
      }
    },
    '/api/site-coverage': async (p) => {
      // The share of each site's hosts that run an agent (console-sites.ts says what counts as a site's host).
      if (!options.query || !options.fleet) throw new BadRequest('the coverage of each site needs the fleet: start the console with --nats (and --sign-key)');
      const since = p.get('since') || '24h';
      const top = topOf(p);
      const { SITE_AGENTS_SQL, SITE_NEIGHBOURS_SQL, siteCoverage } = await import('../../console/console-sites.js');
      try {
        const agents = await inRegistryTurn(() => askRegistry(SITE_AGENTS_SQL, Number.MAX_SAFE_INTEGER));
        const neighbours = await options.query({ sql: SITE_NEIGHBOURS_SQL, target: p.get('target') ?? 'all', since, maxRows: Number.MAX_SAFE_INTEGER }, () => undefined);
        const { columns: _c, rows: _r, rows_cut: _cut, ...who } = neighbours;
        return { since, sites: siteCoverage(agents, neighbours, top), ...who };
      } catch (error) {
        if (error instanceof RangeError || (error as Error).name === 'QueryError' || (error as Error).name === 'FleetQueryError') throw new BadRequest((error as Error).message);
        throw error;
      }
    },
    '/api/alerts': () => options.alerts?.list() ?? { watches: [], alerts: [] },
    '/api/anomalies': async (p) => {
      if (!options.query) throw new BadRequest('this server has no flows: the console does, over --data-dir or --nats', 404);
      const { anomaliesSql, scoredWindow } = await import('../../anomaly/anomaly-query.js');
      const { windowFromOptions } = await import('../common-options.js');
      const all = p.get('all') ?? 'false';
      if (!['true', 'false'].includes(all)) throw new BadRequest(`all must be true or false (got ${JSON.stringify(all)})`);
      let sql: string;
      try {
        const window = windowFromOptions({ since: p.get('since') ?? undefined, between: p.get('between') ?? undefined });
        sql = anomaliesSql(scoredWindow(window, Date.now() * 1000), topOf(p), all === 'true');
      } catch (error) {
        if (error instanceof BadRequest) throw error;
        throw new BadRequest((error as Error).message.replace(/--(since|between)/g, '$1'));
      }
      try {
        // The window is in the SQL: the baseline reads the weeks before it, so the flows are not cut to it.
        return await options.query({ sql, target: p.get('target') ?? 'all' }, () => undefined);
      } catch (error) {
        if (error instanceof RangeError || (error as Error).name === 'QueryError' || (error as Error).name === 'FleetQueryError') throw new BadRequest((error as Error).message);
        throw error;
      }
    },
    '/api/coverage': async (p) => {
      if (!options.query) throw new BadRequest('this server has no flows: the console does, over --data-dir or --nats', 404);
      const trials = Number(p.get('trials') ?? '50');
      if (!Number.isInteger(trials) || trials < 1 || trials > 1000) throw new BadRequest(`trials must be a whole number from 1 to 1000 (got ${JSON.stringify(p.get('trials'))})`);
      const cover = Number(p.get('cover') ?? '0.99');
      if (!(cover > 0 && cover <= 1)) throw new BadRequest(`cover must be a share above 0 and at most 1, e.g. 0.99 (got ${JSON.stringify(p.get('cover'))})`);
      const { coverageJson, coverageReport, LOCAL_PAIRS_SQL, PAIRS_SQL, pairRowsOf } = await import('../../coverage/coverage-report.js');
      const { coverageSvg } = await import('../../coverage/coverage-chart.js');
      let answer: Awaited<ReturnType<ConsoleQueryHandler>>;
      try {
        // The store gives the unordered pairs at once; the fleet's rows are merged here (as endsight coverage does).
        answer = await options.query({ sql: options.fleet ? PAIRS_SQL : LOCAL_PAIRS_SQL, target: p.get('target') ?? 'all', since: p.get('since') ?? undefined, maxRows: Number.MAX_SAFE_INTEGER }, () => undefined);
      } catch (error) {
        if (error instanceof RangeError || (error as Error).name === 'QueryError') throw new BadRequest((error as Error).message);
        throw error;
      }
      const report = coverageReport(pairRowsOf(answer.columns, answer.rows), !options.fleet, { trials, allPoints: true, cover });
      const { columns: _c, rows: _r, rows_cut: _cut, ...who } = answer;
      return { ...coverageJson(report), cover_bytes: report.cover?.bytes ?? null, svg: coverageSvg(report.result), ...who };
    },
    '/api/audit': async (p) => {
      if (!options.query) throw new BadRequest('this server has no flows to audit: the console does, over --data-dir or --nats', 404);
      const subnet = p.get('subnet');
      const address = p.get('address');
      if ((subnet === null) === (address === null)) throw new BadRequest('an audit needs exactly one of subnet=CIDR and address=A');
      const { auditSql } = await import('../../crosscheck/audit-query.js');
      let sql: string;
      try {
        sql = auditSql(subnet !== null ? { subnet } : { address: address! }, topOf(p));
      } catch (error) {
        throw new BadRequest((error as Error).message);
      }
      try {
        return await options.query({ sql, target: p.get('target') ?? 'all', since: p.get('since') ?? undefined }, () => undefined);
      } catch (error) {
        if (error instanceof RangeError || (error as Error).name === 'QueryError') throw new BadRequest((error as Error).message);
        throw error;
      }
    },
    '/api/routes': async (p) => {
      const { computeRoutes } = await import('../../topo/ospf/spf.js');
      const router = routerId(p, 'router');
      const view = served.view;
      const table = computeRoutes(view.lsdb, router, view.nowMs);
      if (!view.model.index.has(router) && table.networks.length === 0) throw new BadRequest(`the database has no router ${router}`, 404);
      return { router, routes: table.networks.map((r) => ({ prefix: r.prefix, type: r.pathType, cost: r.cost, type2_cost: r.type2Cost, area: r.area, next_hops: r.nextHops.map((h) => ({ gateway: h.gateway, interface_address: h.interfaceAddress })) })) };
    },
  };

  const server = http.createServer((request, response) => {
    const reply = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
      response.end(JSON.stringify(body) + '\n');
    };
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://localhost');
    } catch {
      return reply(400, { error: 'the request URL does not parse' });
    }
    const post = url.pathname === '/api/query';
    if (request.method !== (post ? 'POST' : 'GET')) return reply(405, { error: post ? 'only POST (a JSON body with sql)' : 'only GET' });
    if (url.pathname === '/api/openapi.json') return reply(200, CONSOLE_OPENAPI);
    if (options.page !== undefined && url.pathname === '/') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'" });
      response.end(options.page);
      return;
    }
    if (options.token !== undefined) {
      const given = (request.headers.authorization ?? '').replace(/^Bearer\s+/i, '') || url.searchParams.get('token') || '';
      if (!timingSafeEqualText(given, options.token)) return reply(401, { error: 'a valid access token is needed: Authorization: Bearer TOKEN (the console takes it from #token= in its URL)' });
    }
    if (post) return void answerQuery(request, response, options.query, log);
    const route = routes[url.pathname === '/' ? '/api' : url.pathname.replace(/\/$/, '')];
    if (!route) return reply(404, { error: `no such endpoint ${url.pathname}: GET /api lists them` });
    Promise.resolve()
      .then(() => route(url.searchParams))
      .then(
        (body) => reply(200, body),
        (error: Error) => (error instanceof BadRequest ? reply(error.status, { error: error.message }) : (log(`internal error on ${url.pathname}: ${error.stack ?? error.message}`), reply(500, { error: 'internal error' }))),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new RangeError(`Cannot serve on ${options.http}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`)));
    server.listen(Number(match[2]), match[1], () => resolve());
  });
  const address = server.address() as { address: string; port: number };
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: async () => {
      if (timer) clearInterval(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // The fleet connection's subscriptions would keep the process alive after Ctrl-C.
      await options.query?.close?.();
    },
  };
}

/**
 * POST /api/query: reads and checks the body, then streams JSON lines: progress as hosts answer, and
 * the result or the error last. A wrong request is a 400 before anything is streamed.
 */
function answerQuery(request: http.IncomingMessage, response: http.ServerResponse, handler: ConsoleQueryHandler | undefined, log: (line: string) => void): void {
  const fail = (status: number, error: string): void => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    response.end(JSON.stringify({ error }) + '\n');
  };
  if (!handler) return fail(404, 'this server answers no queries: the console does, over --data-dir or --nats');
  const chunks: Buffer[] = [];
  let size = 0;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_QUERY_BODY) chunks.push(chunk);
  });
  request.on('end', () => {
    if (size > MAX_QUERY_BODY) return fail(413, `the request body is over ${MAX_QUERY_BODY} bytes: a query is one SQL statement`);
    let query: ConsoleQuery;
    try {
      query = parseQueryBody(Buffer.concat(chunks).toString('utf8'));
    } catch (error) {
      return fail(400, (error as Error).message);
    }
    response.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
    const line = (value: unknown): void => void response.write(JSON.stringify(value) + '\n');
    handler(query, (progress) => line({ progress }))
      .then((result) => line({ result }))
      .catch((error: Error) => {
        // The engine's and the options' messages are for the person who asked; anything else is ours.
        const known = error instanceof RangeError || error.name === 'QueryError';
        if (!known) log(`internal error on /api/query: ${error.stack ?? error.message}`);
        line({ error: known ? error.message : 'internal error' });
      })
      .finally(() => response.end());
  });
}

/** The query request body: {"sql": "SELECT …", "target": "all", "since": "2h"}; one error line for anything else. */
function parseQueryBody(body: string): ConsoleQuery {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new Error('the request body must be JSON: {"sql": "SELECT …", "target": "all", "since": "2h"}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the request body must be a JSON object with "sql"');
  const { sql, target = 'all', since } = value as Record<string, unknown>;
  if (typeof sql !== 'string' || sql.trim() === '') throw new Error('"sql" must be a SQL statement over flows');
  if (typeof target !== 'string' || !/^(all|(host|site|tag|net):\S+)$/.test(target)) throw new Error('"target" must be all, host:ID, site:NAME, tag:T or net:CIDR');
  if (since !== undefined && since !== '' && typeof since !== 'string') throw new Error('"since" must be a duration such as 2h');
  return { sql, target, since: since === '' ? undefined : (since as string | undefined) };
}

/** Compares two strings in time independent of where they differ. */
function timingSafeEqualText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
