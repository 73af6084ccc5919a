/**
 * A network described by hand (issue 5: "a topology file (YAML) for networks without OSPF"), turned
 * into the LSAs its routers would originate in one area, so that the same SPF, views and what-ifs
 * work on it (docs/topo.md lists the keys):
 *
 *   routers:   - {id: 0.0.0.1, stubs: [{prefix: 10.9.0.0/24, cost: 10}], asbr: false}
 *   links:     - {a: 0.0.0.1, b: 0.0.0.2, cost: 10, cost_back: 10, subnet: 10.0.12.0/30}   point-to-point
 *   lans:      - {prefix: 10.0.0.0/24, dr: 0.0.0.1, members: {0.0.0.1: 10, 0.0.0.2: 10}}
 *   externals: - {router: 0.0.0.6, prefix: 198.51.100.0/24, metric: 20, type: 2}
 *   hosts:     - {name: web1, stub: 10.9.0.0/24, agent: true}      for `endsight lab`; SPF ignores them
 *
 * A point-to-point link's ends get the first two addresses of its subnet (given, or 169.254.k.0/30
 * for the k-th link); a LAN's members the addresses after the network's, in the order listed.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import { yamlValue } from '../../common/yaml-value.js';
import { describeIssue } from '../../common/config-issue.js';
import { z } from 'zod';
import { externalLsa, networkLsa, routerLsa } from './lsa-encode.js';
import { RouterLinkType, type RouterLink } from './lsa.js';
import { AS_SCOPE, LinkStateDatabase } from './lsdb.js';

export const TOPOLOGY_AREA = '0.0.0.0';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const address = z.string().regex(IPV4, 'expected a dotted quad such as 10.0.0.1');
const prefix = z.string().refine((text) => {
  const [net, bits] = text.split('/');
  return IPV4.test(net ?? '') && /^\d+$/.test(bits ?? '') && Number(bits) <= 32;
}, 'expected a prefix such as 10.0.0.0/24');
const cost = z.number().int().min(1).max(65535);

const SCHEMA = z
  .object({
    routers: z.array(z.object({ id: address, stubs: z.array(z.object({ prefix, cost: cost.default(10) }).strict()).default([]), asbr: z.boolean().default(false) }).strict()).min(1),
    links: z.array(z.object({ a: address, b: address, cost, cost_back: cost.optional(), subnet: prefix.optional() }).strict()).default([]),
    lans: z.array(z.object({ prefix, dr: address, members: z.record(address, cost) }).strict()).default([]),
    externals: z.array(z.object({ router: address, prefix, metric: z.number().int().min(0).max(0xfffffe), type: z.union([z.literal(1), z.literal(2)]).default(2) }).strict()).default([]),
    // A host on a router's stub network (its address: the stub's second, third, … address).
    hosts: z.array(z.object({ name: z.string().regex(/^[a-z][a-z0-9]{0,7}$/, 'expected a short name: a letter, then up to 7 letters or digits'), stub: prefix, agent: z.boolean().default(false) }).strict()).default([]),
  })
  .strict();

/** A topology file as read and checked. */
export type TopologySpec = z.infer<typeof SCHEMA>;

/** One clear line per problem, naming the file and the key. */
export class TopologyFileError extends Error {
  override name = 'TopologyFileError';
}

const number = (text: string): number => text.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const text = (value: number): string => `${Math.floor(value / 16777216) % 256}.${Math.floor(value / 65536) % 256}.${Math.floor(value / 256) % 256}.${value % 256}`;
const maskOf = (bits: number): string => text(bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);

/** The database of the network in `file`. */
export function readTopologyFile(file: string): LinkStateDatabase {
  return topologyDatabase(readTopologySpec(file), file);
}

/** The network in `file`, checked; one clear error line (TopologyFileError) naming the key otherwise. */
export function readTopologySpec(file: string): TopologySpec {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (error) {
    throw new TopologyFileError(`Cannot read the topology file ${file}: ${(error as Error).message}`);
  }
  const lines = new LineCounter();
  const document = parseDocument(source, { prettyErrors: false, lineCounter: lines });
  if (document.errors.length > 0) throw new TopologyFileError(`${file}: line ${lines.linePos(document.errors[0].pos[0]).line}: ${document.errors[0].message.split('\n')[0]}`);
  const read = yamlValue(document);
  if ('error' in read) throw new TopologyFileError(`${file}: ${read.error}`);
  const parsed = SCHEMA.safeParse(read.value ?? {});
  if (!parsed.success) {
    throw new TopologyFileError(`${file}: ${describeIssue(parsed.error.issues[0], 'key', 'docs/topo.md')}`);
  }
  const stubs = new Set(parsed.data.routers.flatMap((r) => r.stubs.map((stub) => stub.prefix)));
  const names = new Set<string>();
  parsed.data.hosts.forEach((host, k) => {
    if (!stubs.has(host.stub)) throw new TopologyFileError(`${file}: hosts.${k}.stub: ${host.stub} is no router's stub network`);
    if (names.has(host.name)) throw new TopologyFileError(`${file}: hosts.${k}.name: ${host.name} is listed twice`);
    names.add(host.name);
  });
  return parsed.data;
}

/** The LSAs of a parsed topology, in a database (area 0.0.0.0), installed at time 0 with age 0: read it at time 0. */
export function topologyDatabase(topology: Omit<TopologySpec, 'hosts'>, label = 'topology'): LinkStateDatabase {
  const links = new Map<string, RouterLink[]>();
  const flags = new Map<string, { external: boolean }>();
  for (const router of topology.routers) {
    if (links.has(router.id)) throw new TopologyFileError(`${label}: routers: ${router.id} is listed twice`);
    links.set(router.id, router.stubs.map((s) => ({ type: RouterLinkType.STUB, linkId: s.prefix.split('/')[0], linkData: maskOf(Number(s.prefix.split('/')[1])), metric: s.cost })));
    flags.set(router.id, { external: router.asbr || topology.externals.some((e) => e.router === router.id) });
  }
  const known = (id: string, where: string): RouterLink[] => {
    const list = links.get(id);
    if (!list) throw new TopologyFileError(`${label}: ${where}: ${id} is not among the routers`);
    return list;
  };
  topology.links.forEach((link, k) => {
    const [net, bits] = (link.subnet ?? `169.254.${Math.floor(k / 64) % 256}.${(k % 64) * 4}/30`).split('/');
    const base = number(net);
    const aAddress = text(base + 1);
    const bAddress = text(base + 2);
    const mask = maskOf(Number(bits));
    known(link.a, `links.${k}.a`).push({ type: RouterLinkType.POINT_TO_POINT, linkId: link.b, linkData: aAddress, metric: link.cost }, { type: RouterLinkType.STUB, linkId: net, linkData: mask, metric: link.cost });
    const back = link.cost_back ?? link.cost;
    known(link.b, `links.${k}.b`).push({ type: RouterLinkType.POINT_TO_POINT, linkId: link.a, linkData: bAddress, metric: back }, { type: RouterLinkType.STUB, linkId: net, linkData: mask, metric: back });
  });
  const db = new LinkStateDatabase();
  topology.lans.forEach((lan, k) => {
    const [net, bits] = lan.prefix.split('/');
    const members = Object.entries(lan.members);
    if (!(lan.dr in lan.members)) throw new TopologyFileError(`${label}: lans.${k}.dr: ${lan.dr} is not among the members`);
    const addressOf = (i: number): string => text(number(net) + 1 + i);
    const drAddress = addressOf(members.findIndex(([id]) => id === lan.dr));
    members.forEach(([id, metric], i) => known(id, `lans.${k}.members`).push({ type: RouterLinkType.TRANSIT, linkId: drAddress, linkData: addressOf(i), metric }));
    db.install(TOPOLOGY_AREA, networkLsa(drAddress, lan.dr, maskOf(Number(bits)), members.map(([id]) => id)), 0);
  });
  for (const [id, list] of links) db.install(TOPOLOGY_AREA, routerLsa(id, list, flags.get(id)), 0);
  topology.externals.forEach((external, k) => {
    known(external.router, `externals.${k}.router`);
    const [net, bits] = external.prefix.split('/');
    db.install(AS_SCOPE, externalLsa(net, external.router, maskOf(Number(bits)), external.metric, { type: external.type }), 0);
  });
  return db;
}
