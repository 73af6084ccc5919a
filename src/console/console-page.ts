/**
 * The web console's page (issue 7, first part): one HTML document, no framework, drawing from the
 * JSON API of topo-serve.ts. The network map (routers and links, a line's width by its load, its
 * colour by utilisation when capacities are known), the top links and talkers, a link's breakdown on
 * a click (by source, application, user or entry router), and a what-if of a link going down with
 * the change per link. The access token comes in the page's URL fragment (#token=…), which browsers
 * never send, and goes with every API request as a bearer token.
 */
export const CONSOLE_PAGE = String.raw`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>endsight console</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body { font: 13px system-ui, sans-serif; margin: 0; display: grid; grid-template-columns: 1fr 420px; height: 100vh; }
 header { grid-column: 1 / 3; padding: 6px 12px; background: #1f3a5f; color: white; display: flex; gap: 16px; align-items: center; }
 header b { font-size: 15px; }
 #map { width: 100%; height: calc(100vh - 34px); background: #fafafa; }
 aside { overflow: auto; padding: 8px 12px; border-left: 1px solid #ddd; height: calc(100vh - 50px); }
 h2 { font-size: 13px; margin: 14px 0 4px; text-transform: uppercase; color: #555; }
 table { border-collapse: collapse; width: 100%; }
 td, th { padding: 2px 4px; border-bottom: 1px solid #eee; text-align: left; }
 td.n { text-align: right; font-variant-numeric: tabular-nums; }
 line.link { cursor: pointer; }
 line.link:hover { stroke: #e08214 !important; }
 .error { color: #b2182b; }
 select, button { font: inherit; }
</style></head>
<body>
<header><b>endsight</b><span id="status">loading…</span></header>
<svg id="map" role="img" aria-label="network map"></svg>
<aside>
 <h2>Most loaded links</h2><table id="links"></table>
 <h2>Top talkers</h2><table id="talkers"></table>
 <h2>Link <span id="link-name">(click a link on the map)</span></h2>
 <label>by <select id="by"><option>src</option><option>app</option><option>user</option><option>entry</option><option>dst</option></select></label>
 <table id="breakdown"></table>
 <h2>What if</h2>
 <label>link down <select id="whatif-link"></select></label> <button id="whatif-run">run</button>
 <table id="whatif"></table>
</aside>
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
  const answer = await api('/api/link?from=' + from + '&to=' + to + '&by=' + by + '&top=50');
  const t = document.getElementById('breakdown');
  t.dataset.total = String(answer.link.bytes);
  table('breakdown', [by, 'bytes', 'share'], answer.rows.map((r) => [Object.values(r.key).join(' '), r.bytes, (r.share * 100).toFixed(1) + '%']));
  t.dataset.sum = String(answer.rows.reduce((s, r) => s + r.bytes, 0));
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
async function draw() {
  const graph = await api('/api/graph');
  const svg = document.getElementById('map');
  const width = svg.clientWidth || 800, height = svg.clientHeight || 600;
  const index = new Map(graph.routers.map((r, i) => [r, i]));
  const edges = graph.links.map((l) => ({ a: index.get(l.from), b: index.get(l.to), l }));
  const pos = layout(graph.routers, edges, width, height);
  const max = Math.max(1, ...graph.links.map((l) => l.bytes));
  const colour = (u) => u === null ? '#4575b4' : u > 0.8 ? '#d73027' : u > 0.5 ? '#fc8d59' : '#1a9850';
  let html = '';
  for (const { a, b, l } of edges) {
    // Each direction drawn beside the other: offset along the normal.
    const dx = pos[b].x - pos[a].x, dy = pos[b].y - pos[a].y, d = Math.max(1, Math.hypot(dx, dy)), ox = -dy / d * 3, oy = dx / d * 3;
    html += '<line class="link" data-from="' + esc(l.from) + '" data-to="' + esc(l.to) + '" data-bytes="' + l.bytes + '" x1="' + (pos[a].x + ox) + '" y1="' + (pos[a].y + oy) + '" x2="' + (pos[b].x + ox) + '" y2="' + (pos[b].y + oy) +
      '" stroke="' + colour(l.utilisation) + '" stroke-width="' + (1 + 9 * l.bytes / max).toFixed(1) + '"><title>' + esc(l.from) + ' → ' + esc(l.to) + ' (' + esc(l.via) + '): ' + fmt(l.bytes) + ' bytes</title></line>';
  }
  graph.routers.forEach((r, i) => { html += '<g class="router"><circle cx="' + pos[i].x + '" cy="' + pos[i].y + '" r="6" fill="#333"/><text x="' + (pos[i].x + 8) + '" y="' + (pos[i].y - 8) + '" font-size="11">' + esc(r) + '</text></g>'; });
  svg.innerHTML = html;
  svg.querySelectorAll('line.link').forEach((el) => el.addEventListener('click', () => showLink(el.dataset.from, el.dataset.to).catch(fail)));
  const choice = document.getElementById('whatif-link');
  choice.innerHTML = graph.links.filter((l) => l.via === 'p2p' && l.from < l.to).map((l) => '<option value="' + esc(l.from + ',' + l.to) + '">' + esc(l.from) + ' – ' + esc(l.to) + '</option>').join('');
  document.getElementById('status').textContent = graph.routers.length + ' routers, ' + graph.links.length + ' links (' + graph.links.filter((l) => l.bytes > 0).length + ' with traffic), ' + fmt(graph.routedBytes) + ' bytes routed';
  document.body.dataset.ready = 'true';
}
async function panels() {
  const links = await api('/api/links?top=10');
  table('links', ['link', 'bytes', 'share'], links.links.map((l) => [l.from + ' → ' + l.to, l.bytes, (l.share * 100).toFixed(1) + '%']));
  const talkers = await api('/api/top?by=host&top=10');
  table('talkers', ['host', 'bytes'], talkers.rows.map((r) => [r.key.host, r.bytes]));
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
Promise.all([draw(), panels()]).catch(fail);
</script>
</body></html>
`;
