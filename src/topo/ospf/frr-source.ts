/**
 * A link-state database from FRR's own listings: the JSON of `vtysh -c 'show ip ospf database router
 * json'` and of its network, summary, asbr-summary and external siblings, saved as *.json files in a
 * directory and in its subfolders (one per router: the union is used, each LSA at its newest
 * instance by RFC 2328 §13.1). Which listing a file holds is read from its top-level key. Every LSA
 * is rebuilt from its fields as a router would encode it; its header keeps the age, sequence number
 * and checksum FRR reports. What cannot be read is counted by reason and skipped.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { IssueCounter } from '../../common/issue-counter.js';
import { externalLsa, networkLsa, routerLsa, summaryLsa } from './lsa-encode.js';
import { RouterLinkType, type Lsa, type RouterLink } from './lsa.js';
import { AS_SCOPE, LinkStateDatabase } from './lsdb.js';

export interface FrrDatabase {
  lsdb: LinkStateDatabase;
  files: number;
  lsas: { installed: number; same: number; older: number; flushed: number };
  issues: IssueCounter;
}

type Json = Record<string, unknown>;

const LINK_TYPES: Record<string, number> = {
  'another Router (point-to-point)': RouterLinkType.POINT_TO_POINT,
  'a Transit Network': RouterLinkType.TRANSIT,
  'Stub Network': RouterLinkType.STUB,
  'a Virtual Link': RouterLinkType.VIRTUAL,
};

/** Reads every *.json file in `dir` and its immediate subfolders. */
export async function readFrrDatabase(dir: string, now = Date.now()): Promise<FrrDatabase> {
  const result: FrrDatabase = { lsdb: new LinkStateDatabase(), files: 0, lsas: { installed: 0, same: 0, older: 0, flushed: 0 }, issues: new IssueCounter() };
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch((error: Error) => {
    throw new RangeError(`Cannot read the FRR directory ${dir}: ${error.message}`);
  });
  const files = entries.filter((e) => e.isFile() && e.name.endsWith('.json')).map((e) => path.join(dir, e.name));
  for (const sub of entries.filter((e) => e.isDirectory())) {
    for (const name of await fs.readdir(path.join(dir, sub.name)).catch(() => [] as string[])) if (name.endsWith('.json')) files.push(path.join(dir, sub.name, name));
  }
  if (files.length === 0) throw new RangeError(`No *.json file in ${dir} or its subfolders: save vtysh -c 'show ip ospf database router json' (and network, summary, asbr-summary, external) there`);
  for (const file of files.sort()) {
    let json: Json;
    try {
      json = JSON.parse(await fs.readFile(file, 'utf8')) as Json;
    } catch {
      result.issues.add('frr_file_not_json');
      continue;
    }
    result.files++;
    for (const { area, lsa } of lsasOf(json, result.issues)) result.lsas[result.lsdb.install(area, lsa, now)]++;
  }
  return result;
}

/** The LSAs of one FRR listing, with their areas (AS_SCOPE for externals). */
function lsasOf(json: Json, issues: IssueCounter): { area: string; lsa: Lsa }[] {
  const out: { area: string; lsa: Lsa }[] = [];
  const byArea = (key: string): [string, Json[]][] => {
    const areas = (json[key] as Json | undefined)?.areas as Record<string, unknown> | undefined;
    return areas && typeof areas === 'object' ? Object.entries(areas).filter((e): e is [string, Json[]] => Array.isArray(e[1])) : [];
  };
  const take = (area: string, item: Json, build: (item: Json) => Lsa): void => {
    try {
      out.push({ area, lsa: withHeader(build(item), item) });
    } catch {
      issues.add('frr_bad_lsa');
    }
  };
  for (const [area, items] of byArea('routerLinkStates')) for (const item of items) take(area, item, routerFrom);
  for (const [area, items] of byArea('networkLinkStates')) {
    for (const item of items) {
      take(area, item, (i) => networkLsa(str(i.linkStateId), str(i.advertisingRouter), maskOf(i.networkMask), Object.keys((i.attchedRouters ?? i.attachedRouters ?? {}) as Json)));
    }
  }
  for (const [area, items] of byArea('summaryLinkStates')) for (const item of items) take(area, item, (i) => summaryLsa(str(i.linkStateId), str(i.advertisingRouter), maskOf(i.networkMask), num(i.tos0Metric)));
  for (const [area, items] of byArea('asbrSummaryLinkStates')) {
    for (const item of items) take(area, item, (i) => summaryLsa(str(i.linkStateId), str(i.advertisingRouter), maskOf(i.networkMask ?? 0), num(i.tos0Metric), undefined, true));
  }
  const externals = json.asExternalLinkStates;
  if (Array.isArray(externals)) for (const item of externals as Json[]) take(AS_SCOPE, item, (i) => externalFrom(i, false));
  for (const [area, items] of byArea('nssaExternalLinkStates')) for (const item of items) take(area, item, (i) => externalFrom(i, true));
  return out;
}

function routerFrom(item: Json): Lsa {
  const links: RouterLink[] = [];
  for (const link of Object.values((item.routerLinks ?? {}) as Record<string, Json>)) {
    const type = LINK_TYPES[str(link.linkType)];
    if (type === undefined) throw new Error('unknown link type');
    const metric = num(link.tos0Metric);
    if (type === RouterLinkType.STUB) links.push({ type, linkId: str(link.networkAddress), linkData: str(link.networkMask), metric });
    else if (type === RouterLinkType.TRANSIT) links.push({ type, linkId: str(link.designatedRouterAddress), linkData: str(link.routerInterfaceAddress), metric });
    else links.push({ type, linkId: str(link.neighborRouterId), linkData: str(link.routerInterfaceAddress), metric });
  }
  const flags = num(item.flags ?? 0);
  return routerLsa(str(item.advertisingRouter), links, { border: (flags & 1) !== 0, external: (flags & 2) !== 0 });
}

function externalFrom(item: Json, nssa: boolean): Lsa {
  return externalLsa(str(item.linkStateId), str(item.advertisingRouter), maskOf(item.networkMask), num(item.metric), {
    type: /^E1/.test(str(item.metricType)) ? 1 : 2, forwardingAddress: str(item.forwardAddress ?? '0.0.0.0'), routeTag: num(item.externalRouteTag ?? 0), nssa,
  });
}

/** The LSA with the age, sequence number and checksum FRR reports (its own encoding's). */
function withHeader(lsa: Lsa, item: Json): Lsa {
  const sequence = Number.parseInt(str(item.lsaSeqNumber), 16);
  const checksum = Number.parseInt(str(item.checksum), 16);
  const age = num(item.lsaAge);
  if (!Number.isFinite(sequence) || !Number.isFinite(checksum)) throw new Error('bad sequence or checksum');
  return { ...lsa, header: { ...lsa.header, age, sequence: sequence | 0, checksum } };
}

function str(value: unknown): string {
  if (typeof value !== 'string') throw new Error('expected a string');
  return value;
}

function num(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error('expected a number');
  return value;
}

/** FRR lists some masks as a length (24), others dotted. */
function maskOf(value: unknown): string {
  if (typeof value === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(value)) return value;
  const bits = num(value);
  if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new Error('bad mask');
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return `${mask >>> 24}.${(mask >>> 16) & 255}.${(mask >>> 8) & 255}.${mask & 255}`;
}
