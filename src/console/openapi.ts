/**
 * The console's JSON API as an OpenAPI 3.1 document (served at /api/openapi.json, without the token:
 * it describes, it does not answer). topo-serve.ts answers these paths; its test checks that the two
 * lists are the same.
 */

const text = { type: 'string' } as const;
const number = { type: 'number' } as const;
const integer = { type: 'integer' } as const;
const top = { name: 'top', in: 'query', description: 'rows to return (1 to 100000)', schema: { ...integer, minimum: 1, maximum: 100_000, default: 20 } } as const;
const period = { name: 'period', in: 'query', description: 'one period of the matrix (GET /api/periods lists them); default: the whole matrix', schema: text } as const;
const series = { name: 'series', in: 'query', description: 'true: also each row\'s bytes in every period (sparklines)', schema: { type: 'boolean', default: false } } as const;
const router = (name: string, description: string) => ({ name, in: 'query', required: true, description, schema: { ...text, pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$' } }) as const;
const json = (description: string, schema: object = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const errors = {
  '400': json('the question is wrong: one error line', { type: 'object', properties: { error: text } }),
  '401': json('no valid access token (Authorization: Bearer TOKEN)', { type: 'object', properties: { error: text } }),
};
const get = (summary: string, parameters: object[], description: string, schema?: object) => ({ get: { summary, parameters, responses: { '200': json(description, schema), ...errors } } });

const column = { type: 'object', properties: { name: text, type: text } };
const row = { type: 'array', items: {} };
/** A row of a host's breakdown: the key (peer, application, user or process), bytes the host sent and received, and flow records (from flows). */
const hostRow = { type: 'object', properties: { key: { type: ['string', 'null'] }, sent: number, received: number, flows: number } };

export const CONSOLE_OPENAPI = {
  openapi: '3.1.0',
  info: {
    title: 'endsight console API',
    version: '1',
    description: 'The network view (OSPF topology joined with flows) and queries over flows. Every path but this document needs the access token the console prints at start.',
  },
  components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
  security: [{ token: [] }],
  paths: {
    '/api': get('what is served: the endpoints, when the data was read, routers and pairs', [], 'the index'),
    '/api/periods': get('the periods of the matrix (a console with --every), oldest first: the time slider', [], 'periods with name, pairs, routed_bytes, max_link_bytes', {
      type: 'object',
      properties: { periods: { type: 'array', items: { type: 'object', properties: { name: text, pairs: integer, routed_bytes: number, max_link_bytes: number } } } },
    }),
    '/api/path': get("the path of one pair's traffic over the network: its share on each link it crosses (equal-cost paths split it)", [
      { name: 'src', in: 'query', required: true, description: 'the source address (IPv4)', schema: text },
      { name: 'dst', in: 'query', required: true, description: 'the destination address (IPv4)', schema: text },
    ], 'src, dst, routed, local, unrouted (the reason, or null), links (from, to, via, from_address, share)'),
    '/api/host': get(
      "one host's traffic (a click on a host): from the map's matrix, and with a store or --nats from the flows of a window, each flow once (the larger of its sender's and receiver's records)",
      [
        { name: 'addr', in: 'query', required: true, description: 'the host: an IPv4 or IPv6 address', schema: text },
        { name: 'since', in: 'query', description: 'the flows of this last duration (default 24h), in about 24 time buckets', schema: { ...text, default: '24h' } },
        { name: 'target', in: 'query', description: 'with --nats: the hosts asked (all, host:ID, site:NAME, tag:T or net:CIDR)', schema: { ...text, default: 'all' } },
        top, period,
      ],
      'addr; router (where it attaches, or null); matrix (sent, received, peers, apps, users: key, sent, received; counts; series: bytes per period or null); flows (null without flows: since, bucket_s, sent, received, flows, peers, apps, users, processes: key, sent, received, flows; counts; times: start, sent, received; source, elapsed_ms, expected, answered, missing, failed)',
      {
        type: 'object',
        properties: {
          addr: text, router: { type: ['string', 'null'] },
          matrix: { type: 'object', properties: { sent: number, received: number, peers: { type: 'array', items: hostRow }, apps: { type: 'array', items: hostRow }, users: { type: 'array', items: hostRow }, counts: { type: 'object' }, series: { type: ['array', 'null'], items: number } } },
          flows: {
            type: ['object', 'null'],
            properties: {
              since: text, bucket_s: integer, sent: number, received: number, flows: number,
              peers: { type: 'array', items: hostRow }, apps: { type: 'array', items: hostRow }, users: { type: 'array', items: hostRow }, processes: { type: 'array', items: hostRow }, counts: { type: 'object' },
              times: { type: 'array', items: { type: 'object', properties: { start: text, sent: number, received: number } } },
              source: { enum: ['store', 'fleet'] }, elapsed_ms: number, expected: { type: 'array', items: text }, answered: { type: 'array', items: text }, missing: { type: 'array', items: text }, failed: { type: 'object' },
            },
          },
        },
      },
    ),
    '/api/groups': get('the aggregated map of a large network: groups of routers around hubs (id, hub, routers, bytes_within) and the links between groups (from, to: group ids; bytes; links)', [period], 'groups and group links'),
    '/api/group': get('one group of the aggregated map: its routers and its links, most loaded first', [
      { name: 'id', in: 'query', required: true, description: 'the group (GET /api/groups)', schema: integer }, period, top,
    ], 'id, hub, routers, links (from, to, via, from_address, bytes, within), link_count'),
    '/api/graph': get('every router and link with its load (the map), of the whole matrix or one period', [period], 'routers and links', {
      type: 'object',
      properties: {
        routers: { type: 'array', items: text },
        routedBytes: number,
        links: { type: 'array', items: { type: 'object', properties: { from: text, to: text, via: { enum: ['p2p', 'transit'] }, from_address: text, cost: integer, bytes: number, utilisation: { type: ['number', 'null'] } } } },
      },
    }),
    '/api/links': get('the most loaded links (most utilised first when capacities are known)', [top, period, series], 'links with bytes and shares (and series: bytes per period)'),
    '/api/top': get('the most communicating hosts, sources, destinations, pairs, applications or users', [
      { name: 'by', in: 'query', schema: { enum: ['host', 'src', 'dst', 'pair', 'app', 'user'], default: 'host' } }, top, period, series,
    ], 'rows of key, bytes and share (by host: router, where it attaches, or null; group, the group of /api/groups it is drawn beside above 400 routers, or null; and series: bytes per period)'),
    '/api/link': get("what crosses one link, by a dimension (the map's click-through)", [
      router('from', 'the router the link leaves'), router('to', 'the router it reaches'),
      { name: 'address', in: 'query', description: 'the interface address, when two links join the same routers', schema: text },
      { name: 'by', in: 'query', schema: { enum: ['pair', 'src', 'dst', 'app', 'user', 'entry'], default: 'pair' } }, top, period,
    ], 'the link and its breakdown, whose rows sum to its bytes'),
    '/api/whatif': get('the links a scenario changes, most changed first', [
      { name: 'link-down', in: 'query', description: 'A,B: the link between routers A and B fails (repeatable)', schema: text },
      { name: 'router-down', in: 'query', description: 'A: router A fails (repeatable)', schema: text },
      { name: 'cost', in: 'query', description: 'A,B=N: the cost from A to B becomes N (repeatable)', schema: text },
      { name: 'move', in: 'query', description: 'PREFIX=R: the prefix is served at router R (repeatable)', schema: text }, top,
      { name: 'groups', in: 'query', description: 'true: also the aggregated map before and after (groups.links in the order of /api/groups: from, to, links, before_bytes, bytes; groups.within_before and within_after: bytes inside each group; groups.changed: how many links change; links is cut to top, groups.links never)', schema: { type: 'boolean', default: false } },
    ], 'per link: bytes before, after and the change; with groups=true, the group links and inside each group, before and after'),
    '/api/tune': get(
      'the traffic-engineering search: at most max OSPF interface costs changed to lower the highest link utilisation (a console with --capacity and --window)',
      [{ name: 'max', in: 'query', description: 'interfaces that may change cost (1 to 50)', schema: { ...integer, minimum: 1, maximum: 50, default: 3 } }],
      'changes (router, address, toward, before_cost, after_cost, step: the what-if cost step), before and after (max_utilisation, worst_link, links_over), steps',
    ),
    '/api/routes': get("one router's OSPF routes", [router('router', 'the router')], 'the routes with their costs and next hops'),
    '/api/columns': get('the columns of the flows table, for the query editor', [], 'column names', { type: 'object', properties: { columns: { type: 'array', items: text } } }),
    '/api/fleet': get(
      'every agent the coordinator hears (a console started with --nats): the hosts table, with site, version, last heartbeat and health',
      [],
      'columns as the hosts table (docs/fleet.md), and who was expected; sites, agents, silent (no heartbeat for 10 s before as_of)',
      { type: 'object', properties: { source: { enum: ['fleet'] }, columns: { type: 'array', items: column }, rows: { type: 'array', items: row }, rows_cut: integer, sites: { type: 'array', items: { type: 'object' } }, agents: integer, silent: integer, as_of: text } },
    ),
    '/api/site-coverage': get(
      "the coverage of each site (a console with --nats): its agents, the hosts without one that their flows show in their own subnets (the /24 or /64 of the agent's address), the share of the site's hosts seen that run an agent (an upper bound), and the hosts without one, most bytes first",
      [
        { name: 'since', in: 'query', description: 'the flows of this last duration (default 24h)', schema: { ...text, default: '24h' } },
        { name: 'target', in: 'query', description: 'the agents whose flows are read (all, host:ID, site:NAME, tag:T or net:CIDR)', schema: { ...text, default: 'all' } },
        top,
      ],
      'since; sites (site, agents, without_agent, hosts_seen, share_with_agent, hosts_without_agent: addr, bytes, flows, agents); and who answered',
      {
        type: 'object',
        properties: {
          since: text,
          sites: { type: 'array', items: { type: 'object', properties: { site: { type: ['string', 'null'] }, agents: integer, without_agent: integer, hosts_seen: integer, share_with_agent: number, hosts_without_agent: { type: 'array', items: { type: 'object', properties: { addr: text, bytes: number, flows: number, agents: integer } } } } } },
          source: { enum: ['fleet'] }, elapsed_ms: number, expected: { type: 'array', items: text }, answered: { type: 'array', items: text }, missing: { type: 'array', items: text }, failed: { type: 'object' },
        },
      },
    ),
    '/api/alerts': get(
      "the console's standing-query alerts (--alerts FILE with --nats): each watch (name, every_ms, sql, alert, target, state, error, registered, refused, periods, last_period, problems) and the alerts fired, newest first (name, period_start, period_end, condition, rows, answered, expected, missing, webhook_error)",
      [],
      'watches and alerts',
    ),
    '/api/anomalies': get(
      "the most abnormal applications of a window against each host's own history (docs/anomaly.md), worst first, with the evidence; from the store, or with --nats every host",
      [
        { name: 'since', in: 'query', description: 'the last duration scored, at most a day (default 1h)', schema: text },
        { name: 'between', in: 'query', description: 'or a window START/END, at most a day', schema: text },
        { name: 'target', in: 'query', description: 'with --nats: all, host:ID, site:NAME, tag:T or net:CIDR', schema: { ...text, default: 'all' } },
        { name: 'all', in: 'query', description: 'every scored application, not only the anomalous ones', schema: { type: 'boolean', default: false } },
        top,
      ],
      'the columns of endsight anomalies, and who answered',
      { type: 'object', properties: { source: { enum: ['store', 'fleet'] }, columns: { type: 'array', items: column }, rows: { type: 'array', items: row }, expected: { type: 'array', items: text }, answered: { type: 'array', items: text }, missing: { type: 'array', items: text }, failed: { type: 'object' } } },
    ),
    '/api/coverage': get(
      'traffic seen against hosts instrumented (docs/coverage.md): best-first and random with 95% intervals, per application, the fewest hosts that see a share of the bytes, and the chart as SVG',
      [
        { name: 'since', in: 'query', description: 'only flows of this last duration, e.g. 24h', schema: text },
        { name: 'target', in: 'query', description: 'with --nats: all, host:ID, site:NAME, tag:T or net:CIDR', schema: { ...text, default: 'all' } },
        { name: 'trials', in: 'query', description: 'random choices per size (1 to 1000)', schema: { ...integer, minimum: 1, maximum: 1000, default: 50 } },
        { name: 'cover', in: 'query', description: 'the share of bytes hosts_to_instrument must see', schema: { ...number, default: 0.99 } },
      ],
      'as endsight coverage --format json, with cover_bytes, svg, and who answered',
    ),
    '/api/audit': get(
      'who used a subnet or an address (network auditing): every flow to or from it, by reporting host, user, process and application, most bytes first; from the store, or with --nats the fleet',
      [
        { name: 'subnet', in: 'query', description: 'a prefix such as 10.20.0.0/16 (this or address)', schema: text },
        { name: 'address', in: 'query', description: 'an IPv4 or IPv6 address (this or subnet)', schema: text },
        { name: 'since', in: 'query', description: 'only flows of this last duration, e.g. 4w', schema: text },
        { name: 'target', in: 'query', description: 'with --nats: all, host:ID, site:NAME, tag:T or net:CIDR', schema: { ...text, default: 'all' } },
        top,
      ],
      'columns host, username, process, app, bytes, flows, first, last; and who answered',
      { type: 'object', properties: { source: { enum: ['store', 'fleet'] }, columns: { type: 'array', items: column }, rows: { type: 'array', items: row }, rows_cut: integer, elapsed_ms: number, expected: { type: 'array', items: text }, answered: { type: 'array', items: text }, missing: { type: 'array', items: text }, failed: { type: 'object' } } },
    ),
    '/api/query': {
      post: {
        summary: 'one SQL statement over flows: the local store, or with --nats the fleet as one signed query',
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', required: ['sql'], properties: { sql: text, target: { ...text, default: 'all', description: 'all, host:ID, site:NAME, tag:T or net:CIDR' }, since: { ...text, description: 'only flows of this last duration, e.g. 2h' } } } } },
        },
        responses: {
          '200': {
            description: 'JSON lines: {"progress":{answered,failed,expected}} as hosts answer, then {"result":{source,columns,rows,rows_cut,elapsed_ms,expected,answered,missing,failed}} or {"error":"…"}',
            content: {
              'application/x-ndjson': {
                schema: {
                  type: 'object',
                  properties: {
                    progress: { type: 'object', properties: { answered: integer, failed: integer, expected: integer } },
                    result: { type: 'object', properties: { source: { enum: ['store', 'fleet'] }, columns: { type: 'array', items: column }, rows: { type: 'array', items: row }, rows_cut: integer, elapsed_ms: number, expected: { type: 'array', items: text }, answered: { type: 'array', items: text }, missing: { type: 'array', items: text }, failed: { type: 'object' } } },
                    error: text,
                  },
                },
              },
            },
          },
          ...errors,
        },
      },
    },
    '/api/openapi.json': { get: { summary: 'this document', security: [], responses: { '200': json('the OpenAPI document') } } },
  },
} as const;
