/**
 * The coverage curves as an SVG chart (the shape of the end-system monitor's Figure 1): share of
 * hosts instrumented on a logarithmic axis, share of bytes and flows seen; best-first as lines, the
 * random choice's mean as a line inside its 95% band.
 */
import type { CoverageResult } from './coverage.js';

const WIDTH = 720;
const HEIGHT = 440;
const LEFT = 64;
const RIGHT = 24;
const TOP = 32;
const BOTTOM = 56;

const escape = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function coverageSvg(result: CoverageResult, title = 'Traffic seen against hosts instrumented'): string {
  const n = Math.max(1, result.hosts);
  const points = result.points.filter((p) => p.k > 0);
  const minX = Math.log10(1 / n);
  const x = (k: number): number => LEFT + ((Math.log10(k / n) - minX) / (0 - minX || 1)) * (WIDTH - LEFT - RIGHT);
  const y = (share: number): number => TOP + (1 - share) * (HEIGHT - TOP - BOTTOM);
  const line = (get: (p: (typeof points)[number]) => number): string => points.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.k).toFixed(1)},${y(get(p)).toFixed(1)}`).join(' ');
  const band = points.length > 0
    ? `M${points.map((p) => `${x(p.k).toFixed(1)},${y(p.randomBytes.high).toFixed(1)}`).join(' L')} L${[...points].reverse().map((p) => `${x(p.k).toFixed(1)},${y(p.randomBytes.low).toFixed(1)}`).join(' L')} Z`
    : '';
  const grid: string[] = [];
  for (let share = 0; share <= 1.0001; share += 0.2) {
    grid.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y(share)}" y2="${y(share)}" stroke="#ddd"/>`, `<text x="${LEFT - 8}" y="${y(share) + 4}" text-anchor="end">${Math.round(share * 100)}%</text>`);
  }
  for (let decade = Math.ceil(minX); decade <= 0; decade++) {
    const k = n * 10 ** decade;
    const label = decade >= -2 ? `${(10 ** decade * 100).toFixed(Math.max(0, -decade - 2))}%` : `${(10 ** decade * 100).toExponential(0)}%`;
    grid.push(`<line x1="${x(k)}" x2="${x(k)}" y1="${TOP}" y2="${HEIGHT - BOTTOM}" stroke="#eee"/>`, `<text x="${x(k)}" y="${HEIGHT - BOTTOM + 18}" text-anchor="middle">${label}</text>`);
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escape(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14">${escape(title)}</text>`,
    ...grid,
    `<path d="${band}" fill="#f4a582" fill-opacity="0.35" stroke="none"/>`,
    `<path d="${line((p) => p.randomBytes.mean)}" fill="none" stroke="#d6604d" stroke-width="1.5"/>`,
    `<path d="${line((p) => p.flows)}" fill="none" stroke="#4393c3" stroke-width="2" stroke-dasharray="6 4"/>`,
    `<path d="${line((p) => p.bytes)}" fill="none" stroke="#2166ac" stroke-width="2.5"/>`,
    `<text x="${WIDTH / 2}" y="${HEIGHT - 14}" text-anchor="middle">hosts instrumented (of ${result.hosts.toLocaleString('en-US')}, logarithmic)</text>`,
    `<text x="16" y="${HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 16 ${HEIGHT / 2})">traffic seen</text>`,
    `<g transform="translate(${LEFT + 12},${TOP + 12})">`,
    `<line x1="0" x2="24" y1="0" y2="0" stroke="#2166ac" stroke-width="2.5"/><text x="30" y="4">bytes, best-first</text>`,
    `<line x1="0" x2="24" y1="18" y2="18" stroke="#4393c3" stroke-width="2" stroke-dasharray="6 4"/><text x="30" y="22">flows, best-first</text>`,
    `<line x1="0" x2="24" y1="36" y2="36" stroke="#d6604d" stroke-width="1.5"/><text x="30" y="40">bytes, random (mean, 95% band)</text>`,
    `</g>`,
    `</svg>`,
  ].join('\n') + '\n';
}
