/**
 * The web console's page (issue 7): one HTML document, no framework, drawing from the JSON API of
 * topo-serve.ts (docs/console.md). Seven tabs:
 * - Map: the network map (routers and links, a line's width by its load, its colour by utilisation
 *   when capacities are known), the top links and talkers with sparklines, a link's breakdown on a
 *   click (by source, application, user or entry router; by pair, a row's click draws that pair's
 *   path), a router's links on a click on it, and a what-if of a link going down with
 *   the change per link. With periods (--every), a time slider and Play step the map through them.
 *   Above 400 routers the map is a level up: groups of routers around hubs, a click lists a group;
 *   the top talkers beside their groups, and the What-if maps a level up too.
 * - Query: SQL over `flows` (the columns listed), a target and a window; progress while hosts answer,
 *   then who did not; the result as a table (only the rows in view are drawn: up to 10,000) and a
 *   bar chart; CSV and JSON downloads.
 * - Fleet: every agent the coordinator hears (a console started with --nats): site, version, last
 *   heartbeat and the health its heartbeats carry; per site, agents heard and lately heard.
 * - Coverage: traffic seen against hosts instrumented, best-first and random (95% intervals), per
 *   application, and the fewest hosts that see a share of the bytes.
 * - What-if: links or routers down, costs changed, prefixes moved, or the traffic-engineering
 *   search's cost changes; the map before and after side by side, and the links that change.
 * - Anomalies: the most abnormal applications of a window against each host's own history, with
 *   the evidence (the anomalous ones in red).
 * - Alerts: the console's standing queries (--alerts) and the alerts they fired, newest first.
 * The access token comes in the page's URL fragment (#token=…), which browsers never send, and goes
 * with every API request as a bearer token.
 */
export const CONSOLE_PAGE = String.raw`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>endsight console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font: 13px system-ui, sans-serif; margin: 0; }
 header { padding: 6px 12px; background: #1f3a5f; color: white; display: flex; gap: 16px; align-items: center; height: 22px; }
 header b { font-size: 15px; }
 header button.tab { background: none; border: 0; color: #cfd8e3; cursor: pointer; padding: 2px 6px; }
 header button.tab[aria-selected="true"] { color: white; border-bottom: 2px solid white; }
 #tab-map { display: grid; grid-template-columns: 1fr 420px; height: calc(100vh - 34px); }
 #map { width: 100%; height: calc(100vh - 34px); background: #fafafa; }
 .page { padding: 8px 12px; overflow: auto; height: calc(100vh - 50px); }
 tr.stale td { color: #b2182b; }
 #tab-query { padding: 8px 12px; height: calc(100vh - 50px); display: flex; flex-direction: column; gap: 6px; }
 #q-sql { width: 100%; height: 90px; font: 12px ui-monospace, monospace; box-sizing: border-box; }
 #q-columns span { display: inline-block; margin: 1px 3px; padding: 0 4px; background: #eef2f7; border-radius: 3px; cursor: pointer; font: 11px ui-monospace, monospace; }
 #q-chart { width: 100%; height: 160px; flex: none; }
 .rows { overflow: auto; border: 1px solid #ddd; position: relative; }
 #q-rows { flex: 1; }
 #fleet-box { height: 55vh; }
 .rows table { position: absolute; top: 0; }
 .rows th { position: sticky; top: 0; background: white; }
 .missing { color: #b2182b; }
 [hidden] { display: none !important; }
 aside { overflow: auto; padding: 8px 12px; border-left: 1px solid #ddd; height: calc(100vh - 50px); }
 h2 { font-size: 13px; margin: 14px 0 4px; text-transform: uppercase; color: #555; }
 table { border-collapse: collapse; width: 100%; }
 td, th { padding: 2px 4px; border-bottom: 1px solid #eee; text-align: left; }
 td.n { text-align: right; font-variant-numeric: tabular-nums; }
 line.link { cursor: pointer; }
 svg.small-map { width: 48vw; height: 44vh; background: #fafafa; border: 1px solid #ddd; }
 svg.spark { width: 80px; height: 16px; vertical-align: middle; }
 svg.spark polyline { fill: none; stroke: #4575b4; stroke-width: 1.2; }
 line.link:hover { stroke: #e08214 !important; }
 line.link.path { stroke: #e08214 !important; }
 g.router, g.host, #talkers tr, #host-rows tr.peer { cursor: pointer; }
 .error { color: #b2182b; }
 select, button { font: inherit; }
</style></head>
<body>
<header><b>endsight</b>
 <button class="tab" data-tab="map" aria-selected="true">Map</button><button class="tab" data-tab="query" aria-selected="false">Query</button><button class="tab" data-tab="fleet" aria-selected="false">Fleet</button><button class="tab" data-tab="coverage" aria-selected="false">Coverage</button><button class="tab" data-tab="whatif" aria-selected="false">What-if</button><button class="tab" data-tab="anomalies" aria-selected="false">Anomalies</button><button class="tab" data-tab="alerts" aria-selected="false">Alerts</button>
 <span id="status">loading…</span></header>
<main id="tab-map">
<svg id="map" role="img" aria-label="network map"></svg>
<aside>
 <div id="timebar" hidden><h2>Time</h2>
  <button id="play">▶ Play</button> <input type="range" id="period" min="0" max="0" value="0" style="width: 220px"> <span id="period-name">all periods</span></div>
 <div><label>host <input id="host-addr" size="16" placeholder="10.1.0.5"></label> <button id="host-go">show its traffic</button></div>
 <h2>Most loaded links</h2><table id="links"></table>
 <h2>Top talkers</h2><table id="talkers"></table>
 <h2>Link <span id="link-name">(click a link on the map)</span></h2>
 <label>by <select id="by"><option>src</option><option>app</option><option>user</option><option>entry</option><option>dst</option><option>pair</option></select></label>
 <table id="breakdown"></table>
 <p id="path"></p>
 <div id="router-panel" hidden><h2>Router <span id="router-name"></span></h2><table id="router-links"></table></div>
 <div id="host-panel" hidden><h2>Host <span id="host-name"></span></h2>
  <p id="host-summary"></p>
  <label>by <select id="host-by"><option>peer</option><option>app</option><option>user</option><option>process</option></select></label>
  <label>flows of the last <input id="host-since" value="24h" size="5"></label> <span id="host-spark"></span>
  <table id="host-rows"></table></div>
 <div id="group-panel" hidden><h2>Group <span id="group-name"></span></h2><table id="group-links"></table></div>
 <h2>What if</h2>
 <label>link down <select id="whatif-link"></select></label> <button id="whatif-run">run</button>
 <table id="whatif"></table>
</aside>
</main>
<main id="tab-query" hidden>
 <div><label>target <input id="q-target" value="all" size="18" title="all, host:ID, site:NAME, tag:T or net:CIDR"></label>
  <label>since <input id="q-since" size="6" placeholder="e.g. 2h"></label>
  <button id="q-run">Run</button> <button id="q-csv" disabled>CSV</button> <button id="q-json" disabled>JSON</button>
  <span id="q-status"></span></div>
 <textarea id="q-sql" spellcheck="false">SELECT src_addr, dst_addr, sum(bytes) AS bytes FROM flows GROUP BY ALL ORDER BY bytes DESC LIMIT 20</textarea>
 <div id="q-columns"></div>
 <div id="q-who"></div>
 <svg id="q-chart" role="img" aria-label="result chart"></svg>
 <div id="q-rows" class="rows"><div id="q-spacer"></div><table id="q-result"></table></div>
</main>
<main id="tab-fleet" class="page" hidden>
 <div><button id="fleet-refresh">Refresh</button> <span id="fleet-status"></span></div>
 <h2>Sites</h2><table id="fleet-sites"></table>
 <h2>Coverage of each site</h2>
 <div><label>flows of the last <input id="fleet-cov-since" value="24h" size="5"></label> <span id="fleet-cov-status"></span></div>
 <p>A site's hosts: its agents, and the addresses their flows show in their own subnets (/24, /64) that no agent has; the share with an agent is an upper bound (hosts that talk only to hosts without an agent are not seen).</p>
 <table id="fleet-coverage"></table>
 <h2>Agents <span id="fleet-cut"></span></h2><div id="fleet-box" class="rows"><div id="fleet-spacer"></div><table id="fleet-hosts"></table></div>
</main>
<main id="tab-coverage" class="page" hidden>
 <div><label>since <input id="cov-since" size="6" placeholder="e.g. 24h"></label> <label>target <input id="cov-target" value="all" size="14"></label>
  <label>hosts that see <input id="cov-cover" value="0.99" size="5"> of the bytes</label> <button id="cov-run">Run</button> <span id="cov-status"></span></div>
 <p id="cov-cover-answer"></p>
 <div id="cov-chart"></div>
 <h2>Best-first and random</h2><table id="cov-points"></table>
 <h2>Per application (share of its bytes seen, best-first)</h2><table id="cov-apps"></table>
</main>
<main id="tab-whatif" class="page" hidden>
 <div><label>link down <select id="wi-link"></select></label> <button id="wi-add-link">add</button>
  <label>router down <select id="wi-router"></select></label> <button id="wi-add-router">add</button>
  <label>cost of <select id="wi-cost-link"></select> = <input id="wi-cost" size="5" value="100"></label> <button id="wi-add-cost">add</button>
  <label>move <input id="wi-prefix" size="16" placeholder="10.1.0.25/32"> to <select id="wi-move-router"></select></label> <button id="wi-add-move">add</button></div>
 <div>steps: <span id="wi-steps">none</span> <button id="wi-clear">clear</button> <button id="wi-run">Run</button>
  <label>or suggest at most <input id="wi-max" size="2" value="3"> cost changes</label> <button id="wi-tune">Suggest</button> <span id="wi-status"></span></div>
 <div style="display: flex; gap: 8px"><div><h2>Before</h2><svg id="wi-before" class="small-map"></svg></div><div><h2>After</h2><svg id="wi-after" class="small-map"></svg></div></div>
 <h2>Links that change, most first</h2><table id="wi-links"></table>
</main>
<main id="tab-alerts" class="page" hidden>
 <div><button id="al-refresh">Refresh</button> <span id="al-status"></span></div>
 <h2>Standing queries</h2><table id="al-watches"></table>
 <h2>Alerts, newest first</h2><table id="al-alerts"></table>
</main>
<main id="tab-anomalies" class="page" hidden>
 <div><label>last <input id="an-since" value="1h" size="5"></label> <label>or between <input id="an-between" size="38" placeholder="2026-11-02T09:00Z/2026-11-02T10:00Z"></label>
  <label>target <input id="an-target" value="all" size="14"></label> <label><input type="checkbox" id="an-all"> every application</label>
  <button id="an-run">Run</button> <span id="an-status"></span></div>
 <p>Each application against the same hours of the host's past weeks (docs/anomaly.md): score = robust z of its worst feature; 5 or more is anomalous.</p>
 <table id="an-rows"></table>
</main>
<script>
const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
const api = async (path) => {
  const response = await fetch(path, { headers: { authorization: 'Bearer ' + token } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
};
// Every value from the data is escaped: process and user names come from the hosts, not from us.
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const fmt = (n) => n >= 1e9 ? (n / 1e9).toFixed(2) + ' G' : n >= 1e6 ? (n / 1e6).toFixed(2) + ' M' : n >= 1e3 ? (n / 1e3).toFixed(1) + ' k' : String(Math.round(n));
const table = (id, head, rows) => {
  const t = document.getElementById(id);
  t.innerHTML = '<tr>' + head.map((h) => '<th>' + esc(h) + '</th>').join('') + '</tr>' +
    rows.map((r) => '<tr>' + r.map((c) => typeof c === 'number' ? '<td class="n">' + fmt(c) + '</td>' : '<td>' + esc(c) + '</td>').join('') + '</tr>').join('');
};
let selected = null;
async function showLink(from, to) {
  selected = { from, to };
  document.getElementById('link-name').textContent = from + ' → ' + to;
  const by = document.getElementById('by').value;
  const period = document.getElementById('map').dataset.period;
  const answer = await api('/api/link?from=' + from + '&to=' + to + '&by=' + by + '&top=50' + (period ? '&period=' + encodeURIComponent(period) : ''));
  const t = document.getElementById('breakdown');
  t.dataset.total = String(answer.link.bytes);
  table('breakdown', [by, 'bytes', 'share'], answer.rows.map((r) => [Object.values(r.key).join(' '), r.bytes, (r.share * 100).toFixed(1) + '%']));
  t.dataset.sum = String(answer.rows.reduce((s, r) => s + r.bytes, 0));
  // By source or destination, a row's click shows that host's traffic.
  if (by === 'src' || by === 'dst') t.querySelectorAll('tr').forEach((tr, i) => {
    if (i === 0) return;
    tr.style.cursor = 'pointer';
    tr.title = "show this host's traffic";
    tr.addEventListener('click', () => showHost(answer.rows[i - 1].key[by]).catch(fail));
  });
  // By pair, a row's click draws that pair's path on the map.
  if (by === 'pair') t.querySelectorAll('tr').forEach((tr, i) => {
    if (i === 0) return;
    tr.style.cursor = 'pointer';
    tr.title = 'show its path';
    tr.addEventListener('click', () => showPath(answer.rows[i - 1].key.src, answer.rows[i - 1].key.dst).catch(fail));
  });
}
/** Marks a pair's path on the map (its share on each link) and says it in words. */
async function showPath(src, dst) {
  const path = await api('/api/path?src=' + encodeURIComponent(src) + '&dst=' + encodeURIComponent(dst));
  const share = new Map(path.links.map((l) => [l.from + '>' + l.to, l.share]));
  document.querySelectorAll('#map line.link').forEach((el) => el.classList.toggle('path', share.has(el.dataset.from + '>' + el.dataset.to)));
  const box = document.getElementById('path');
  box.textContent = path.links.length === 0 ? src + ' → ' + dst + ': ' + (path.local ? 'both ends on one router' : 'not routed (' + (path.unrouted || 'no route') + ')')
    : src + ' → ' + dst + ': ' + path.links.map((l) => l.from + ' → ' + l.to + (l.share < 1 ? ' (' + Math.round(l.share * 100) + '%)' : '')).join(', ');
  box.dataset.links = String(path.links.length);
}
/**
 * A host's traffic (GET /api/host): sent and received by peer, application, user and process, from
 * the flows of the store or the fleet over the window when the console has flows, else from the
 * map's matrix; the summary gives both. Rows carry their exact figures in data- attributes.
 */
let hostShown = null;
let hostAnswer = null;
async function showHost(addr) {
  hostShown = addr;
  document.body.dataset.host = 'running';
  const q = new URLSearchParams({ addr, top: '50', since: document.getElementById('host-since').value.trim() || '24h' });
  const period = document.getElementById('map').dataset.period;
  if (period) q.set('period', period);
  let answer;
  try {
    answer = await api('/api/host?' + q);
  } catch (error) {
    if (hostShown === addr) document.body.dataset.host = 'error';
    throw error;
  }
  if (hostShown !== addr) return;
  hostAnswer = answer;
  const m = answer.matrix, f = answer.flows;
  document.getElementById('host-panel').hidden = false;
  document.getElementById('host-name').textContent = addr + (answer.router ? ' (attached to router ' + answer.router + ')' : '');
  document.getElementById('host-summary').textContent = 'on the map' + (period ? ' (' + period + ')' : '') + ': ' + fmt(m.sent) + ' bytes sent, ' + fmt(m.received) + ' received, ' + m.counts.peers + ' peers' +
    (f ? '; in the ' + (f.source === 'fleet' ? "fleet's" : "store's") + ' flows of the last ' + f.since + ': ' + fmt(f.sent) + ' sent, ' + fmt(f.received) + ' received, ' + f.flows + ' flow records, ' + f.counts.peers + ' peers; ' + answered(f, 'hosts') : '');
  // Over the window: the flows' time buckets, else the matrix's periods.
  const times = f ? f.times.map((t) => t.sent + t.received) : m.series;
  document.getElementById('host-spark').innerHTML = times ? spark(times) : '';
  drawHostRows();
  document.getElementById('host-panel').scrollIntoView({ block: 'nearest' });
  document.body.dataset.host = 'done';
}
function drawHostRows() {
  if (!hostAnswer) return;
  const by = document.getElementById('host-by').value;
  const source = hostAnswer.flows || hostAnswer.matrix;
  const rows = by === 'peer' ? source.peers : by === 'app' ? source.apps : by === 'user' ? source.users : (source.processes || []);
  const flows = hostAnswer.flows !== null;
  const t = document.getElementById('host-rows');
  t.dataset.source = flows ? 'flows' : 'matrix';
  t.dataset.by = by;
  t.innerHTML = '<tr><th>' + esc(by) + '</th><th>sent</th><th>received</th>' + (flows ? '<th>flows</th>' : '') + '</tr>' +
    (by === 'process' && !flows ? '<tr><td colspan="3">processes come from the flows: the console has none (--data-dir or --nats)</td></tr>' : '') +
    rows.map((r) => '<tr class="' + (by === 'peer' ? 'peer' : 'row') + '" data-key="' + esc(r.key ?? '') + '" data-sent="' + r.sent + '" data-received="' + r.received + '"' + (flows ? ' data-flows="' + r.flows + '"' : '') + '>' +
      '<td>' + esc(r.key ?? '(none)') + '</td><td class="n">' + fmt(r.sent) + '</td><td class="n">' + fmt(r.received) + '</td>' + (flows ? '<td class="n">' + esc(r.flows) + '</td>' : '') + '</tr>').join('');
  if (by === 'peer') t.querySelectorAll('tr.peer').forEach((tr) => tr.addEventListener('click', () => showHost(tr.dataset.key).catch(fail)));
}
document.getElementById('host-by').addEventListener('change', drawHostRows);
document.getElementById('host-since').addEventListener('change', () => hostShown && showHost(hostShown).catch(fail));
document.getElementById('host-go').addEventListener('click', () => showHost(document.getElementById('host-addr').value.trim()).catch(fail));
document.getElementById('host-addr').addEventListener('keydown', (e) => { if (e.key === 'Enter') document.getElementById('host-go').click(); });
/**
 * The top talkers on the map: a small square beside the router each attaches to, or on the grouped
 * map beside that router's group (several of one group fan out around it); a click shows its traffic.
 */
function drawHosts(rows) {
  const svg = document.getElementById('map');
  if (groupMode ? !groupLevel : !mapGraph) return;
  svg.querySelectorAll('g.host').forEach((el) => el.remove());
  const index = groupMode ? null : new Map(mapGraph.routers.map((r, i) => [r, i]));
  const around = new Map();
  let html = '';
  for (const r of rows) {
    const at = groupMode ? r.group : index.get(r.router);
    if (at === undefined || at === null) continue;
    const centre = groupMode ? groupLevel.pos[at] : mapPos[at];
    // Just outside the group's circle, whose radius grows with its routers.
    const reach = groupMode ? 17 + Math.sqrt(groupLevel.level.groups[at].routers) : 26;
    const k = around.get(at) || 0;
    around.set(at, k + 1);
    const angle = Math.PI / 4 + k * Math.PI / 5, x = centre.x + Math.cos(angle) * reach, y = centre.y + Math.sin(angle) * reach;
    const where = groupMode ? ' (router ' + esc(r.router) + ', in the group of ' + esc(groupLevel.level.groups[at].hub) + ')' : '';
    html += '<g class="host" data-host="' + esc(r.key.host) + '"' + (groupMode ? ' data-group="' + at + '"' : '') + '><line x1="' + centre.x + '" y1="' + centre.y + '" x2="' + x + '" y2="' + y + '" stroke="#999" stroke-width="0.8"/>' +
      '<rect x="' + (x - 4) + '" y="' + (y - 4) + '" width="8" height="8" fill="#8c510a"/><title>' + esc(r.key.host) + where + ': ' + fmt(r.bytes) + ' bytes (click: its traffic)</title></g>';
  }
  svg.insertAdjacentHTML('beforeend', html);
  svg.querySelectorAll('g.host').forEach((el) => el.addEventListener('click', () => showHost(el.dataset.host).catch(fail)));
}
/** A router's traffic: every link into and out of it, with its load (from the map's data). */
function showRouter(id) {
  const links = mapGraph.links.filter((l) => l.from === id || l.to === id).sort((a, b) => b.bytes - a.bytes);
  const out = links.filter((l) => l.from === id).reduce((sum, l) => sum + l.bytes, 0);
  const into = links.filter((l) => l.to === id).reduce((sum, l) => sum + l.bytes, 0);
  document.getElementById('router-panel').hidden = false;
  document.getElementById('router-name').textContent = id + ': ' + fmt(out) + ' bytes out, ' + fmt(into) + ' in';
  table('router-links', ['link', 'via', 'bytes'], links.map((l) => [l.from + ' → ' + l.to, l.via, l.bytes]));
  document.getElementById('router-links').dataset.router = id;
}
document.getElementById('by').addEventListener('change', () => selected && showLink(selected.from, selected.to));
function layout(nodes, edges, width, height) {
  // A spring layout: neighbours pull, everyone pushes; a fixed number of rounds from a circle.
  const n = nodes.length;
  const pos = nodes.map((_, i) => ({ x: width / 2 + Math.cos(2 * Math.PI * i / n) * width / 3, y: height / 2 + Math.sin(2 * Math.PI * i / n) * height / 3 }));
  const k = Math.sqrt(width * height / Math.max(1, n)) * 0.6;
  for (let round = 0; round < 200; round++) {
    const force = pos.map(() => ({ x: 0, y: 0 }));
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n && n <= 400; j++) {
      const dx = pos[i].x - pos[j].x, dy = pos[i].y - pos[j].y, d2 = Math.max(1, dx * dx + dy * dy);
      const f = k * k / d2;
      force[i].x += dx * f; force[i].y += dy * f; force[j].x -= dx * f; force[j].y -= dy * f;
    }
    for (const e of edges) {
      const a = pos[e.a], b = pos[e.b], dx = b.x - a.x, dy = b.y - a.y, d = Math.max(1, Math.hypot(dx, dy));
      const f = d / k;
      force[e.a].x += dx * f; force[e.a].y += dy * f; force[e.b].x -= dx * f; force[e.b].y -= dy * f;
    }
    const step = 5 * (1 - round / 200) + 0.5;
    pos.forEach((p, i) => {
      const len = Math.max(1, Math.hypot(force[i].x, force[i].y));
      p.x = Math.min(width - 20, Math.max(20, p.x + force[i].x / len * step));
      p.y = Math.min(height - 20, Math.max(20, p.y + force[i].y / len * step));
    });
  }
  return pos;
}
let periods = [];
let maxPeriodLinkBytes = 1;
/** Redraws the map's line widths and titles for one period (null: the whole matrix), keeping the layout. */
async function showPeriod(index) {
  const name = index === null ? null : periods[index].name;
  if (groupMode) {
    const level = await api('/api/groups' + (name === null ? '' : '?period=' + encodeURIComponent(name)));
    const max = Math.max(1, ...level.links.map((l) => l.bytes));
    document.querySelectorAll('line.glink').forEach((el, i) => { el.dataset.bytes = String(level.links[i].bytes); el.setAttribute('stroke-width', (1 + 9 * level.links[i].bytes / max).toFixed(1)); });
    document.getElementById('period-name').textContent = name === null ? 'all periods' : name;
    document.getElementById('map').dataset.period = name === null ? '' : name;
    return;
  }
  const graph = await api('/api/graph' + (name === null ? '' : '?period=' + encodeURIComponent(name)));
  const max = name === null ? Math.max(1, ...graph.links.map((l) => l.bytes)) : maxPeriodLinkBytes;
  document.querySelectorAll('line.link').forEach((el, i) => {
    const l = graph.links[i];
    el.dataset.bytes = String(l.bytes);
    el.setAttribute('stroke-width', (1 + 9 * l.bytes / max).toFixed(1));
    el.querySelector('title').textContent = l.from + ' → ' + l.to + ' (' + l.via + '): ' + fmt(l.bytes) + ' bytes';
  });
  document.getElementById('period-name').textContent = name === null ? 'all periods' : name;
  document.getElementById('map').dataset.period = name === null ? '' : name;
  if (selected) await showLink(selected.from, selected.to);
  if (hostShown) await showHost(hostShown);
}
let playing = null;
document.getElementById('period').addEventListener('input', (e) => {
  const i = Number(e.target.value);
  showPeriod(i === periods.length ? null : i).catch(fail);
});
document.getElementById('play').addEventListener('click', () => {
  const slider = document.getElementById('period');
  if (playing) { clearInterval(playing); playing = null; document.getElementById('play').textContent = '▶ Play'; return; }
  let i = 0;
  document.getElementById('play').textContent = '■ Stop';
  const step = () => {
    slider.value = String(i);
    showPeriod(i === periods.length ? null : i).catch(fail);
    if (i === periods.length) { clearInterval(playing); playing = null; document.getElementById('play').textContent = '▶ Play'; }
    i++;
  };
  step();
  playing = setInterval(step, 1000);
});
async function timebar() {
  periods = (await api('/api/periods')).periods;
  if (periods.length === 0) return;
  maxPeriodLinkBytes = Math.max(1, ...periods.map((p) => p.max_link_bytes));
  const slider = document.getElementById('period');
  slider.max = String(periods.length);
  slider.value = String(periods.length);
  document.getElementById('timebar').hidden = false;
}
/** A sparkline of a series of numbers (bytes per period). */
const spark = (series) => {
  if (!series || series.length < 2) return '';
  const max = Math.max(1e-9, ...series);
  const points = series.map((v, i) => (i * 80 / (series.length - 1)).toFixed(1) + ',' + (15 - 14 * v / max).toFixed(1)).join(' ');
  return '<svg class="spark" viewBox="0 0 80 16"><polyline points="' + points + '"/></svg>';
};
// The layout of the first drawing, kept for every later one (periods, the what-if maps).
let mapGraph = null;
let mapPos = [];
let mapSize = { width: 800, height: 600 };
const colour = (u) => u === null ? '#4575b4' : u > 0.8 ? '#d73027' : u > 0.5 ? '#fc8d59' : '#1a9850';
/** The map's lines and routers at pos, widths by each link's bytes against max. */
function mapHtml(graph, pos, max) {
  const index = new Map(graph.routers.map((r, i) => [r, i]));
  let html = '';
  for (const l of graph.links) {
    const a = index.get(l.from), b = index.get(l.to);
    // Each direction drawn beside the other: offset along the normal.
    const dx = pos[b].x - pos[a].x, dy = pos[b].y - pos[a].y, d = Math.max(1, Math.hypot(dx, dy)), ox = -dy / d * 3, oy = dx / d * 3;
    html += '<line class="link" data-from="' + esc(l.from) + '" data-to="' + esc(l.to) + '" data-bytes="' + l.bytes + '" x1="' + (pos[a].x + ox) + '" y1="' + (pos[a].y + oy) + '" x2="' + (pos[b].x + ox) + '" y2="' + (pos[b].y + oy) +
      '" stroke="' + (l.down ? '#bbb' : colour(l.utilisation)) + '"' + (l.down ? ' stroke-dasharray="4 3"' : '') + ' stroke-width="' + (1 + 9 * l.bytes / max).toFixed(1) + '"><title>' + esc(l.from) + ' → ' + esc(l.to) + ' (' + esc(l.via) + '): ' + fmt(l.bytes) + ' bytes</title></line>';
  }
  graph.routers.forEach((r, i) => { html += '<g class="router" data-router="' + esc(r) + '"><circle cx="' + pos[i].x + '" cy="' + pos[i].y + '" r="6" fill="#333"/><text x="' + (pos[i].x + 8) + '" y="' + (pos[i].y - 8) + '" font-size="11">' + esc(r) + '</text></g>'; });
  return html;
}
// Above this many routers the map is drawn a level up: groups of routers around hubs (GET /api/groups).
const DETAIL_LIMIT = 400;
let groupMode = false;
// The aggregated map's groups, their layout and its size: the What-if tab draws on them.
let groupLevel = null;
async function drawGroups(routers) {
  groupMode = true;
  const level = await api('/api/groups');
  const svg = document.getElementById('map');
  const width = svg.clientWidth || 800, height = svg.clientHeight || 600;
  const pos = layout(level.groups, level.links.map((l) => ({ a: l.from, b: l.to })), width, height);
  const max = Math.max(1, ...level.links.map((l) => l.bytes));
  let html = '';
  for (const l of level.links) {
    const a = pos[l.from], b = pos[l.to], dx = b.x - a.x, dy = b.y - a.y, d = Math.max(1, Math.hypot(dx, dy)), ox = -dy / d * 3, oy = dx / d * 3;
    html += '<line class="glink" data-from="' + l.from + '" data-to="' + l.to + '" data-bytes="' + l.bytes + '" x1="' + (a.x + ox) + '" y1="' + (a.y + oy) + '" x2="' + (b.x + ox) + '" y2="' + (b.y + oy) +
      '" stroke="#4575b4" stroke-width="' + (1 + 9 * l.bytes / max).toFixed(1) + '"><title>group ' + l.from + ' → ' + l.to + ': ' + l.links + ' links, ' + fmt(l.bytes) + ' bytes</title></line>';
  }
  level.groups.forEach((g, i) => {
    html += '<circle class="group" data-group="' + g.id + '" cx="' + pos[i].x + '" cy="' + pos[i].y + '" r="' + (3 + Math.sqrt(g.routers)).toFixed(1) + '" fill="#333" style="cursor: pointer"><title>' + esc(g.hub) + ' and ' + (g.routers - 1) + ' more</title></circle>';
  });
  svg.innerHTML = html;
  groupLevel = { level, pos, width, height };
  svg.querySelectorAll('circle.group').forEach((el) => el.addEventListener('click', () => showGroup(el.dataset.group).catch(fail)));
  // A link-down what-if of one router link is for the router map; endsight whatif has it at this size.
  document.getElementById('whatif-run').disabled = true;
  document.getElementById('status').textContent = routers + ' routers in ' + level.groups.length + ' groups (click one), ' + level.links.length + ' links between groups, ' + fmt(level.routedBytes) + ' bytes routed';
  document.body.dataset.ready = 'true';
}
async function showGroup(id) {
  const period = document.getElementById('map').dataset.period;
  const group = await api('/api/group?id=' + id + '&top=50' + (period ? '&period=' + encodeURIComponent(period) : ''));
  document.getElementById('group-panel').hidden = false;
  document.getElementById('group-name').textContent = group.hub + ' and ' + (group.routers.length - 1) + ' more routers (' + group.link_count + ' links)';
  table('group-links', ['link', 'within', 'bytes'], group.links.map((l) => [l.from + ' → ' + l.to, l.within ? 'yes' : 'out', l.bytes]));
  document.getElementById('group-links').dataset.group = String(id);
}
async function draw() {
  const about = await api('/api');
  if (about.routers > DETAIL_LIMIT) return drawGroups(about.routers);
  const graph = await api('/api/graph');
  const svg = document.getElementById('map');
  if (graph.routers.length === 0) {
    // A console without a network (endsight up): the flow pages are what there is.
    svg.innerHTML = '<text x="20" y="40" font-size="14">No network to draw: start the console with --from (an OSPF source) and a traffic matrix.</text>' +
      '<text x="20" y="62" font-size="13">The Query, Fleet and Coverage tabs work on the flows.</text>';
    document.getElementById('status').textContent = 'no network to draw: the Query, Fleet and Coverage tabs have the flows';
    document.body.dataset.ready = 'true';
    document.querySelector('button.tab[data-tab="query"]').click();
    return;
  }
  const width = svg.clientWidth || 800, height = svg.clientHeight || 600;
  const index = new Map(graph.routers.map((r, i) => [r, i]));
  mapGraph = graph;
  mapSize = { width, height };
  mapPos = layout(graph.routers, graph.links.map((l) => ({ a: index.get(l.from), b: index.get(l.to) })), width, height);
  svg.innerHTML = mapHtml(graph, mapPos, Math.max(1, ...graph.links.map((l) => l.bytes)));
  svg.querySelectorAll('g.router').forEach((el) => el.addEventListener('click', () => showRouter(el.dataset.router)));
  svg.querySelectorAll('line.link').forEach((el) => el.addEventListener('click', () => showLink(el.dataset.from, el.dataset.to).catch(fail)));
  const choice = document.getElementById('whatif-link');
  choice.innerHTML = graph.links.filter((l) => l.via === 'p2p' && l.from < l.to).map((l) => '<option value="' + esc(l.from + ',' + l.to) + '">' + esc(l.from) + ' – ' + esc(l.to) + '</option>').join('');
  document.getElementById('status').textContent = graph.routers.length + ' routers, ' + graph.links.length + ' links (' + graph.links.filter((l) => l.bytes > 0).length + ' with traffic), ' + fmt(graph.routedBytes) + ' bytes routed';
  document.body.dataset.ready = 'true';
}
async function panels() {
  await timebar();
  const series = periods.length > 1 ? '&series=true' : '';
  const links = await api('/api/links?top=10' + series);
  table('links', ['link', 'bytes', 'share', ''], links.links.map((l) => [l.from + ' → ' + l.to, l.bytes, (l.share * 100).toFixed(1) + '%', '']));
  const talkers = await api('/api/top?by=host&top=10' + series);
  table('talkers', ['host', 'bytes', ''], talkers.rows.map((r) => [r.key.host, r.bytes, '']));
  // A click on a talker shows its traffic; the talkers are on the map too, beside their routers.
  document.querySelectorAll('#talkers tr').forEach((tr, i) => { if (i > 0) tr.addEventListener('click', () => showHost(talkers.rows[i - 1].key.host).catch(fail)); });
  await mapDrawn;
  drawHosts(talkers.rows);
  // Sparklines (bytes per period) go in the last cells: made here from numbers, not from the data's text.
  if (series) {
    document.querySelectorAll('#links tr').forEach((tr, i) => { if (i > 0) tr.lastElementChild.innerHTML = spark(links.links[i - 1].series); });
    document.querySelectorAll('#talkers tr').forEach((tr, i) => { if (i > 0) tr.lastElementChild.innerHTML = spark(talkers.rows[i - 1].series); });
  }
}
document.getElementById('whatif-run').addEventListener('click', async () => {
  const link = document.getElementById('whatif-link').value;
  const answer = await api('/api/whatif?link-down=' + encodeURIComponent(link) + '&top=20').catch(fail);
  if (!answer) return;
  table('whatif', ['link', 'before', 'after', 'change'], answer.links.map((l) => [l.from + ' → ' + l.to, l.before_bytes, l.bytes, (l.change_bytes >= 0 ? '+' : '−') + fmt(Math.abs(l.change_bytes))]));
  document.getElementById('whatif').dataset.done = 'true';
});
function fail(error) {
  document.getElementById('status').innerHTML = '<span class="error">' + esc(error.message || error) + '</span>';
}
const TABS = ['map', 'query', 'fleet', 'coverage', 'whatif', 'anomalies', 'alerts'];
document.querySelectorAll('button.tab').forEach((b) => b.addEventListener('click', () => {
  document.querySelectorAll('button.tab').forEach((x) => x.setAttribute('aria-selected', String(x === b)));
  for (const tab of TABS) document.getElementById('tab-' + tab).hidden = b.dataset.tab !== tab;
  if (b.dataset.tab === 'fleet') { showFleet(); if (!document.body.dataset.sitecoverage) showSiteCoverage(); }
  if (b.dataset.tab === 'coverage' && !document.body.dataset.coverage) showCoverage();
  if (b.dataset.tab === 'anomalies' && !document.body.dataset.anomalies) showAnomalies();
  if (b.dataset.tab === 'whatif') whatifChoices().catch(fail);
  if (b.dataset.tab === 'alerts') showAlerts();
}));

// The alerts page: the console's standing queries (--alerts) and what they fired (GET /api/alerts).
function showAlerts() {
  return runPage('alerts', 'al', 'asking…', () => api('/api/alerts'), (answer) => {
    table('al-watches', ['name', 'every', 'condition', 'state', 'hosts', 'periods', 'last period', 'answered', 'alerts then'], answer.watches.map((w) => [
      w.name, (w.every_ms / 1000) + ' s', w.alert, w.state + (w.error ? ': ' + w.error : ''), String(w.registered.length) + (Object.keys(w.refused).length ? ' (' + Object.keys(w.refused).length + ' refused)' : ''),
      String(w.periods), w.last_period ? w.last_period.start + ' – ' + w.last_period.end : '', w.last_period ? w.last_period.answered + ' of ' + w.last_period.expected + (w.last_period.missing.length ? ' (no answer from ' + w.last_period.missing.join(', ') + ')' : '') : '',
      w.last_period ? String(w.last_period.alerts) : '']));
    const t = document.getElementById('al-alerts');
    t.innerHTML = '<tr><th>alert</th><th>period</th><th>condition</th><th>rows where it holds</th><th>hosts</th></tr>' + answer.alerts.map((a) => '<tr class="alert">' +
      '<td>' + esc(a.name) + '</td><td>' + esc(a.period_start + ' – ' + a.period_end) + '</td><td>' + esc(a.condition) + '</td><td>' + a.rows.map((r) => esc(JSON.stringify(r))).join('<br>') + '</td>' +
      '<td>' + esc(a.answered.length + ' of ' + a.expected.length) + (a.webhook_error ? ' <span class="error">' + esc(a.webhook_error) + '</span>' : '') + '</td></tr>').join('');
    return answer.watches.length === 0 ? 'no standing queries: start the console with --nats and --alerts FILE (docs/console.md)' : answer.watches.length + ' standing queries, ' + answer.alerts.length + ' alerts kept';
  });
}
document.getElementById('al-refresh').addEventListener('click', showAlerts);
setInterval(() => { if (!document.getElementById('tab-alerts').hidden) showAlerts(); }, 5000);

// The what-if page: a scenario of steps (GET /api/whatif), or the traffic-engineering search's cost
// changes (GET /api/tune), with the map before and after side by side on the main map's layout.
let whatifSteps = [];
let whatifGraph = null;
async function whatifChoices() {
  await mapDrawn;
  if (document.getElementById('wi-link').options.length > 0) return;
  // A grouped map has no router graph in the page: the choices come from /api/graph, once.
  const graph = groupMode ? (whatifGraph = whatifGraph || await api('/api/graph')) : mapGraph;
  if (!graph) return;
  const links = graph.links.filter((l) => l.via === 'p2p' && l.from < l.to);
  const option = (value, label) => '<option value="' + esc(value) + '">' + esc(label) + '</option>';
  document.getElementById('wi-link').innerHTML = links.map((l) => option(l.from + ',' + l.to, l.from + ' – ' + l.to)).join('');
  document.getElementById('wi-cost-link').innerHTML = graph.links.filter((l) => l.via === 'p2p').map((l) => option(l.from + ',' + l.to, l.from + ' → ' + l.to + ' (cost ' + l.cost + ')')).join('');
  const routers = graph.routers.map((r) => option(r, r)).join('');
  document.getElementById('wi-router').innerHTML = routers;
  document.getElementById('wi-move-router').innerHTML = routers;
  if (groupMode) document.getElementById('wi-status').textContent = graph.routers.length + ' routers: the maps are drawn a level up, groups of routers (a group link red where its load grew, green where it fell)';
  drawWhatif(null);
}
function showSteps() {
  document.getElementById('wi-steps').textContent = whatifSteps.length === 0 ? 'none' : whatifSteps.map((s) => s.kind + ' ' + s.text).join('; ');
}
const addStep = (kind, text) => { whatifSteps.push({ kind, text }); showSteps(); };
document.getElementById('wi-add-link').addEventListener('click', () => addStep('link-down', document.getElementById('wi-link').value));
document.getElementById('wi-add-router').addEventListener('click', () => addStep('router-down', document.getElementById('wi-router').value));
document.getElementById('wi-add-cost').addEventListener('click', () => addStep('cost', document.getElementById('wi-cost-link').value + '=' + document.getElementById('wi-cost').value.trim()));
document.getElementById('wi-add-move').addEventListener('click', () => addStep('move', document.getElementById('wi-prefix').value.trim() + '=' + document.getElementById('wi-move-router').value));
document.getElementById('wi-clear').addEventListener('click', () => { whatifSteps = []; showSteps(); drawWhatif(null); document.getElementById('wi-links').innerHTML = ''; });
/** Both maps: before (the whole matrix), and after a what-if's answer (null: the same as before). */
function drawWhatif(answer) {
  if (groupMode) return drawGroupWhatif(answer);
  const svgBefore = document.getElementById('wi-before');
  const svgAfter = document.getElementById('wi-after');
  const viewBox = '0 0 ' + mapSize.width + ' ' + mapSize.height;
  svgBefore.setAttribute('viewBox', viewBox);
  svgAfter.setAttribute('viewBox', viewBox);
  const changed = new Map((answer ? answer.links : []).map((l) => [l.from + '>' + l.to + '|' + l.from_address, l]));
  const down = (l) => whatifSteps.some((s) => (s.kind === 'link-down' && [l.from + ',' + l.to, l.to + ',' + l.from].includes(s.text)) || (s.kind === 'router-down' && (s.text === l.from || s.text === l.to)));
  const after = { routers: mapGraph.routers, links: mapGraph.links.map((l) => {
    const key = l.from + '>' + l.to + '|' + l.from_address;
    const now = changed.get(key);
    return { ...l, bytes: now ? now.bytes : l.bytes, utilisation: now ? (now.utilisation ?? null) : l.utilisation, down: answer !== null && down(l) };
  }) };
  const max = Math.max(1, ...mapGraph.links.map((l) => l.bytes), ...after.links.map((l) => l.bytes));
  svgBefore.innerHTML = mapHtml(mapGraph, mapPos, max);
  svgAfter.innerHTML = mapHtml(answer ? after : mapGraph, mapPos, max);
}
/** The what-if maps a level up: each group link's load before and after, on one scale (GET /api/whatif?groups=true). */
function drawGroupWhatif(answer) {
  if (!groupLevel) return;
  const { level, pos, width, height } = groupLevel;
  const links = answer ? answer.groups.links : level.links.map((l) => ({ ...l, before_bytes: l.bytes }));
  const max = Math.max(1, ...links.map((l) => Math.max(l.before_bytes, l.bytes)));
  const draw = (svgId, after) => {
    const svg = document.getElementById(svgId);
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    let html = '';
    for (const l of links) {
      const a = pos[l.from], b = pos[l.to], dx = b.x - a.x, dy = b.y - a.y, d = Math.max(1, Math.hypot(dx, dy)), ox = -dy / d * 3, oy = dx / d * 3;
      const bytes = after ? l.bytes : l.before_bytes;
      const stroke = !after || l.bytes === l.before_bytes ? '#4575b4' : l.bytes > l.before_bytes ? '#d73027' : '#1a9850';
      html += '<line class="glink" data-from="' + l.from + '" data-to="' + l.to + '" data-bytes="' + bytes + '" x1="' + (a.x + ox) + '" y1="' + (a.y + oy) + '" x2="' + (b.x + ox) + '" y2="' + (b.y + oy) +
        '" stroke="' + stroke + '" stroke-width="' + (1 + 9 * bytes / max).toFixed(1) + '"><title>group ' + l.from + ' → ' + l.to + ': ' + fmt(bytes) + ' bytes' + (after ? ' (before ' + fmt(l.before_bytes) + ')' : '') + '</title></line>';
    }
    level.groups.forEach((g, i) => { html += '<circle class="group" data-group="' + g.id + '" cx="' + pos[i].x + '" cy="' + pos[i].y + '" r="' + (3 + Math.sqrt(g.routers)).toFixed(1) + '" fill="#333"><title>' + esc(g.hub) + ' and ' + (g.routers - 1) + ' more</title></circle>'; });
    svg.innerHTML = html;
  };
  draw('wi-before', false);
  draw('wi-after', answer !== null);
}
function whatifQuery() {
  // A grouped map asks for the group links before and after, and the 500 links that change most.
  const q = new URLSearchParams(groupMode ? { top: '500', groups: 'true' } : { top: '100000' });
  for (const step of whatifSteps) q.append(step.kind, step.text);
  return '/api/whatif?' + q;
}
function showWhatif(answer) {
  drawWhatif(answer);
  const rows = answer.links.filter((l) => l.change_bytes !== 0);
  table('wi-links', ['link', 'before', 'after', 'change'], rows.map((l) => [l.from + ' → ' + l.to, l.before_bytes, l.bytes, (l.change_bytes >= 0 ? '+' : '−') + fmt(Math.abs(l.change_bytes))]));
  const changed = answer.groups ? answer.groups.changed : rows.length;
  return changed + ' links change' + (changed > rows.length ? ' (the ' + rows.length + ' that change most listed)' : '') + '; ' + fmt(answer.before.routed) + ' bytes routed before, ' + fmt(answer.after.routed) + ' after' + (answer.after.unrouted ? ', ' + fmt(answer.after.unrouted) + ' not routable' : '');
}
function runWhatif() {
  if (whatifSteps.length === 0) { document.getElementById('wi-status').textContent = 'add a step first'; return Promise.resolve(); }
  return runPage('whatif', 'wi', 'routing…', () => api(whatifQuery()), showWhatif);
}
document.getElementById('wi-run').addEventListener('click', runWhatif);
// The search's cost changes become the scenario's steps, and are routed at once.
document.getElementById('wi-tune').addEventListener('click', () => runPage('whatif', 'wi', 'searching…', async () => {
  const tune = await api('/api/tune?max=' + encodeURIComponent(document.getElementById('wi-max').value.trim()));
  whatifSteps = tune.changes.map((c) => ({ kind: 'cost', text: c.step }));
  showSteps();
  return { tune, routed: whatifSteps.length > 0 ? await api(whatifQuery()) : null };
}, ({ tune, routed }) => {
  if (!routed) { drawWhatif(null); document.getElementById('wi-links').innerHTML = ''; return 'no cost change lowers the highest utilisation (' + tune.before.max_utilisation.toFixed(3) + ')'; }
  return 'highest utilisation ' + tune.before.max_utilisation.toFixed(3) + ' → ' + tune.after.max_utilisation.toFixed(3) + ' with ' + tune.changes.length + ' cost changes; ' + showWhatif(routed);
}));

// The flow pages' requests: NAME-status shows progress, the answer's summary or the error;
// body[data-NAME] is running, done or error; only the latest run's answer is shown.
const pageRuns = {};
async function runPage(name, prefix, busy, ask, show) {
  const asked = pageRuns[name] = (pageRuns[name] || 0) + 1;
  const status = document.getElementById(prefix + '-status');
  status.textContent = busy;
  document.body.dataset[name] = 'running';
  try {
    const answer = await ask();
    if (asked !== pageRuns[name]) return;
    status.textContent = show(answer);
    document.body.dataset[name] = 'done';
  } catch (error) {
    if (asked !== pageRuns[name]) return;
    status.innerHTML = '<span class="error">' + esc(error.message || error) + '</span>';
    document.body.dataset[name] = 'error';
  }
}
const answered = (answer, what) => answer.answered.length + ' of ' + answer.expected.length + ' ' + what + ' answered' + (answer.missing.length ? ' (no answer from ' + answer.missing.join(', ') + ')' : '');

// The anomalies page: the most abnormal applications with the evidence (GET /api/anomalies).
function showAnomalies() {
  const q = new URLSearchParams({ target: document.getElementById('an-target').value.trim() || 'all', all: String(document.getElementById('an-all').checked), top: '100' });
  const between = document.getElementById('an-between').value.trim();
  if (between) q.set('between', between); else q.set('since', document.getElementById('an-since').value.trim() || '1h');
  return runPage('anomalies', 'an', 'scoring…', () => api('/api/anomalies?' + q), (answer) => {
    const names = answer.columns.map((c) => c.name);
    const rows = answer.rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]])));
    const shown = ['host', 'app', 'kind', 'score', 'feature', 'observed', 'median', 'mad', 'baseline_periods', 'process', 'pair'];
    const t = document.getElementById('an-rows');
    t.innerHTML = '<tr>' + shown.map((h) => '<th>' + esc(h) + '</th>').join('') + '</tr>' +
      rows.map((r) => '<tr class="anomaly' + (r.anomalous ? ' missing' : '') + '">' + shown.map((c) => typeof r[c] === 'number' ? '<td class="n">' + esc(r[c]) + '</td>' : '<td>' + esc(r[c] ?? '') + '</td>').join('') + '</tr>').join('');
    return rows.filter((r) => r.anomalous).length + ' anomalous of ' + rows.length + ' shown; ' + answered(answer, 'hosts');
  });
}
document.getElementById('an-run').addEventListener('click', showAnomalies);

// The coverage page: traffic seen against hosts instrumented (GET /api/coverage).
function showCoverage() {
  const q = new URLSearchParams({ target: document.getElementById('cov-target').value.trim() || 'all', cover: document.getElementById('cov-cover').value.trim() || '0.99' });
  const since = document.getElementById('cov-since').value.trim();
  if (since) q.set('since', since);
  return runPage('coverage', 'cov', 'computing…', () => api('/api/coverage?' + q), (answer) => {
    // The chart is made by the server from numbers and application names it escapes (coverage-chart.ts).
    document.getElementById('cov-chart').innerHTML = answer.svg;
    const pct = (x) => (100 * x).toFixed(2) + '%';
    // Every k up to 10, then 1-2-5 steps, and all: the chart has every k.
    const shown = answer.points.filter((p) => p.k <= 10 || p.k === answer.hosts || /^[125]0*$/.test(String(p.k)));
    table('cov-points', ['hosts', 'share of hosts', 'bytes seen', 'flows seen', 'random: bytes', '95% interval', 'random: flows'],
      shown.map((p) => [String(p.k), pct(p.k / Math.max(1, answer.hosts)), pct(p.bytes), pct(p.flows), pct(p.random_bytes.mean), pct(p.random_bytes.low) + ' – ' + pct(p.random_bytes.high), pct(p.random_flows.mean)]));
    const ks = shown.map((p) => p.k).filter((k) => k > 0).slice(0, 6);
    table('cov-apps', ['application', 'bytes', ...ks.map((k) => k + ' hosts')], answer.apps.map((a) => [a.app, a.bytes, ...ks.map((k) => pct(a.coverage[k]))]));
    const named = answer.hosts_to_instrument;
    document.getElementById('cov-cover-answer').textContent = named.length + ' of ' + answer.hosts + ' hosts see ' + pct(answer.cover_bytes) + ' of the bytes: ' +
      named.slice(0, 20).join(', ') + (named.length > 20 ? ' and ' + (named.length - 20) + ' more (endsight coverage --cover lists them all)' : '');
    return answer.hosts + ' hosts, ' + fmt(answer.total_bytes) + ' bytes, ' + fmt(answer.total_flows) + ' flows; ' + answered(answer, 'reporting hosts');
  });
}
document.getElementById('cov-run').addEventListener('click', showCoverage);

// The fleet page: every agent the coordinator hears, its health and its site (GET /api/fleet).
const STALE_MS = 10000;
function showFleet() {
  return runPage('fleet', 'fleet', 'asking…', () => api('/api/fleet'), showAgents);
}
let fleetHosts = [];
function showAgents(answer) {
  const names = answer.columns.map((c) => c.name);
  fleetHosts = answer.rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]])));
  fleetHeardAt = Date.parse(answer.as_of);
  document.getElementById('fleet-box').scrollTop = 0;
  drawAgents();
  // Per site, over every agent heard (the coordinator adds them up: the list above may be cut).
  table('fleet-sites', ['site', 'agents', 'heard in the last 10 s', 'packets', 'dropped'], answer.sites.map((v) => [v.site ?? '(no site)', String(v.agents), String(v.live), v.packets ?? 0, v.dropped ?? 0]));
  document.getElementById('fleet-cut').textContent = answer.rows_cut ? '(the first ' + fleetHosts.length + ' of ' + answer.agents + ')' : '';
  return answer.agents + ' agents, ' + answer.silent + ' silent for more than 10 s';
}
let fleetHeardAt = 0;
function drawAgents() {
  const age = (h) => fleetHeardAt - Date.parse(h.last_heartbeat.replace(' ', 'T') + (h.last_heartbeat.endsWith('Z') ? '' : 'Z'));
  const pct = (x) => x === null || x === undefined ? '' : (100 * x).toFixed(1) + '%';
  const head = '<tr>' + ['agent', 'site', 'version', 'last heartbeat', 'packets', 'dropped', 'active flows', 'records', 'store', 'CPU', 'RSS', 'attributed', 'sampling', 'policy'].map((h) => '<th>' + esc(h) + '</th>').join('') + '</tr>';
  windowed('fleet-box', 'fleet-spacer', 'fleet-hosts', head, fleetHosts.length, (i) => {
    const h = fleetHosts[i];
    return '<tr style="height:' + ROW_HEIGHT + 'px" class="host' + (age(h) > STALE_MS ? ' stale' : '') + '" data-host="' + esc(h.id) + '">' +
      [h.id, h.site ?? '', h.agent_version, Math.max(0, Math.round(age(h) / 1000)) + ' s ago'].map((c) => '<td>' + esc(c) + '</td>').join('') +
      [h.packets, h.dropped, h.flows_active, h.records_stored].map((n) => '<td class="n">' + (n === null ? '' : fmt(n)) + '</td>').join('') +
      '<td class="n">' + (h.store_bytes === null ? '' : fmt(h.store_bytes) + 'B') + '</td>' +
      '<td class="n">' + pct(h.cpu) + '</td><td class="n">' + (h.rss_bytes === null ? '' : fmt(h.rss_bytes) + 'B') + '</td><td class="n">' + pct(h.attributed_ratio) + '</td>' +
      '<td class="n">' + (h.sampling === null ? '' : '1 in ' + h.sampling) + '</td><td class="n">' + (h.policy_version === null ? '' : esc(h.policy_version)) + '</td></tr>';
  });
}
document.getElementById('fleet-box').addEventListener('scroll', drawAgents);
document.getElementById('fleet-refresh').addEventListener('click', () => { showFleet(); showSiteCoverage(); });
// The coverage of each site (GET /api/site-coverage): the share of its hosts seen that run an agent.
function showSiteCoverage() {
  const since = document.getElementById('fleet-cov-since').value.trim() || '24h';
  return runPage('sitecoverage', 'fleet-cov', 'reading the flows…', () => api('/api/site-coverage?since=' + encodeURIComponent(since)), (answer) => {
    const t = document.getElementById('fleet-coverage');
    t.innerHTML = '<tr><th>site</th><th>agents</th><th>hosts seen</th><th>with an agent</th><th>hosts without an agent, most bytes first</th></tr>' + answer.sites.map((v) =>
      '<tr class="site" data-site="' + esc(v.site ?? '') + '" data-agents="' + v.agents + '" data-hosts="' + v.hosts_seen + '" data-share="' + v.share_with_agent + '" data-without="' + esc(v.hosts_without_agent.map((h) => h.addr).join(' ')) + '">' +
      '<td>' + esc(v.site ?? '(no site)') + '</td><td class="n">' + v.agents + '</td><td class="n">' + v.hosts_seen + '</td><td class="n">' + (100 * v.share_with_agent).toFixed(1) + '%</td>' +
      '<td>' + v.hosts_without_agent.slice(0, 5).map((h) => esc(h.addr) + ' (' + fmt(h.bytes) + 'B)').join(', ') + (v.without_agent > 5 ? ' and ' + (v.without_agent - 5) + ' more' : '') + '</td></tr>').join('');
    return 'flows of the last ' + answer.since + '; ' + answered(answer, 'hosts');
  });
}
document.getElementById('fleet-cov-since').addEventListener('change', showSiteCoverage);

// The query page.
let result = null;
const ROW_HEIGHT = 20;
/**
 * A table that holds only the rows in view (and a few around) in the document, for lists of
 * thousands of rows: count rows of ROW_HEIGHT under head, row i drawn by rowHtml(i).
 */
function windowed(boxId, spacerId, tableId, head, count, rowHtml) {
  const box = document.getElementById(boxId);
  const t = document.getElementById(tableId);
  const first = Math.max(0, Math.floor(box.scrollTop / ROW_HEIGHT) - 10);
  const last = Math.min(count, first + Math.ceil((box.clientHeight || 600) / ROW_HEIGHT) + 20);
  document.getElementById(spacerId).style.height = ((count + 1) * ROW_HEIGHT) + 'px';
  t.style.top = (first * ROW_HEIGHT) + 'px';
  let html = head;
  for (let i = first; i < last; i++) html += rowHtml(i);
  t.innerHTML = html;
}
function drawRows() {
  if (!result) { document.getElementById('q-result').innerHTML = ''; return; }
  const cell = (v) => v !== null && typeof v === 'object' ? JSON.stringify(v) : v;
  windowed('q-rows', 'q-spacer', 'q-result', '<tr>' + result.columns.map((c) => '<th title="' + esc(c.type) + '">' + esc(c.name) + '</th>').join('') + '</tr>', result.rows.length,
    (i) => '<tr style="height:' + ROW_HEIGHT + 'px">' + result.rows[i].map((v) => typeof v === 'number' ? '<td class="n">' + esc(v) + '</td>' : '<td>' + esc(cell(v)) + '</td>').join('') + '</tr>');
}
document.getElementById('q-rows').addEventListener('scroll', drawRows);
function drawChart() {
  // Bars of the last numeric column against the first column, for the first 20 rows.
  const svg = document.getElementById('q-chart');
  const value = result ? result.columns.map((c, i) => i).filter((i) => result.rows.some((r) => typeof r[i] === 'number')).pop() : undefined;
  if (!result || value === undefined || result.rows.length === 0) { svg.innerHTML = ''; return; }
  const rows = result.rows.slice(0, 20);
  const width = svg.clientWidth || 800, height = svg.clientHeight || 160;
  const max = Math.max(1e-9, ...rows.map((r) => Number(r[value]) || 0));
  const w = width / rows.length;
  svg.innerHTML = rows.map((r, i) => {
    const h = (height - 18) * (Number(r[value]) || 0) / max;
    return '<rect class="bar" x="' + (i * w + 2) + '" y="' + (height - 14 - h) + '" width="' + Math.max(1, w - 4) + '" height="' + h + '" fill="#4575b4"><title>' + esc(r.filter((_, k) => k !== value).join(' ')) + ': ' + esc(r[value]) + '</title></rect>' +
      '<text x="' + (i * w + 2) + '" y="' + (height - 2) + '" font-size="9">' + esc(String(r[0]).slice(0, Math.max(3, Math.floor(w / 6)))) + '</text>';
  }).join('');
}
function download(name, type, text) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
const csvCell = (v) => { const t = v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v); return /[",\n\r]/.test(t) ? '"' + t.replace(/"/g, '""') + '"' : t; };
document.getElementById('q-csv').addEventListener('click', () => download('endsight-query.csv', 'text/csv',
  [result.columns.map((c) => csvCell(c.name)).join(','), ...result.rows.map((r) => r.map(csvCell).join(','))].join('\r\n') + '\r\n'));
document.getElementById('q-json').addEventListener('click', () => download('endsight-query.json', 'application/json',
  result.rows.map((r) => JSON.stringify(Object.fromEntries(result.columns.map((c, i) => [c.name, r[i]])))).join('\n') + '\n'));
async function runQuery() {
  const status = document.getElementById('q-status');
  const who = document.getElementById('q-who');
  status.textContent = 'asking…';
  who.textContent = '';
  document.body.dataset.query = 'running';
  const response = await fetch('/api/query', { method: 'POST', headers: { authorization: 'Bearer ' + token, 'content-type': 'application/json' },
    body: JSON.stringify({ sql: document.getElementById('q-sql').value, target: document.getElementById('q-target').value.trim() || 'all', since: document.getElementById('q-since').value.trim() }) });
  if (!response.ok) { const body = await response.json().catch(() => ({})); throw new Error(body.error || response.statusText); }
  // JSON lines: progress while hosts answer, then the result or an error.
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    buffered += decoder.decode(value || new Uint8Array(), { stream: !done });
    let cut;
    while ((cut = buffered.indexOf('\n')) >= 0) {
      const message = JSON.parse(buffered.slice(0, cut));
      buffered = buffered.slice(cut + 1);
      if (message.progress) status.textContent = message.progress.answered + ' of ' + message.progress.expected + ' hosts answered' + (message.progress.failed ? ', ' + message.progress.failed + ' failed' : '') + '…';
      if (message.error) throw new Error(message.error);
      if (message.result) showResult(message.result);
    }
    if (done) break;
  }
}
function showResult(answer) {
  result = answer;
  const failed = Object.entries(answer.failed);
  document.getElementById('q-status').textContent = answer.rows.length + (answer.rows.length === 1 ? ' row' : ' rows') + (answer.rows_cut ? ' (' + answer.rows_cut + ' more not shown: endsight query has them all)' : '') + ' in ' + answer.elapsed_ms + ' ms; ' + answer.answered.length + ' of ' + answer.expected.length + ' hosts answered';
  document.getElementById('q-who').innerHTML = (answer.missing.length ? '<span class="missing" id="q-missing">no answer from ' + answer.missing.map(esc).join(', ') + '</span> ' : '') +
    (failed.length ? '<span class="missing">refused or failed: ' + failed.map(([h, why]) => esc(h) + ' (' + esc(why) + ')').join(', ') + '</span>' : '');
  document.getElementById('q-csv').disabled = document.getElementById('q-json').disabled = false;
  document.getElementById('q-rows').scrollTop = 0;
  drawRows();
  drawChart();
  document.body.dataset.query = 'done';
}
document.getElementById('q-run').addEventListener('click', () => runQuery().catch((error) => {
  document.getElementById('q-status').innerHTML = '<span class="error">' + esc(error.message || error) + '</span>';
  document.body.dataset.query = 'error';
}));
api('/api/columns').then((c) => {
  const box = document.getElementById('q-columns');
  box.innerHTML = 'columns: ' + c.columns.map((name) => '<span>' + esc(name) + '</span>').join('');
  box.querySelectorAll('span').forEach((el) => el.addEventListener('click', () => {
    const sql = document.getElementById('q-sql');
    sql.setRangeText(el.textContent, sql.selectionStart, sql.selectionEnd, 'end');
    sql.focus();
  }));
}).catch(fail);
const mapDrawn = draw();
Promise.all([mapDrawn, panels()]).catch(fail);
</script>
</body></html>
`;
