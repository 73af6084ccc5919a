/**
 * What-if scenarios (issue 5): steps that change the network (a link or a router down, an interface
 * cost changed, addresses moved to another router), applied to a copy of the link-state database as
 * the routers themselves would describe the changed network, so that the same SPF computes the new
 * routes and the same link-load code the new loads.
 *
 *   - A point-to-point link down: both routers drop the link and the stub of its subnet from their
 *     router-LSAs (RFC 2328 §12.4.1.1, the interface is down).
 *   - A router off a LAN: it drops its transit link and leaves the network-LSA's attached routers; a
 *     LAN left with a single router becomes that router's stub network (§12.4.1.2).
 *   - A router down (powered off: its neighbours lose carrier): every LSA it originated goes, its
 *     point-to-point links go down at both ends as above, and it leaves every LAN as above (when it
 *     was the designated router the network-LSA is kept: another router on the LAN takes over, and
 *     the attachment code sends the LAN's hosts to it).
 *   - A cost: the sending router's interface metric towards a neighbour or a LAN (OSPF costs are
 *     outgoing, one direction).
 *   - A move: the prefixes attach to another router; routes do not change, the paths of their traffic do.
 */
import { LsaType, RouterLinkType, type Lsa, type LsaBody, type RouterLink } from './ospf/lsa.js';
import { networkLsa, routerLsa } from './ospf/lsa-encode.js';
import { AS_SCOPE, type LinkStateDatabase } from './ospf/lsdb.js';
import { ipv4Number, maskLength, prefixOf } from './ospf/spf.js';
import { parsePrefix, type MovedPrefix } from './network-model.js';

export type WhatIfStep =
  | { kind: 'link-down'; a: string; b: string }
  | { kind: 'router-down'; router: string }
  | { kind: 'cost'; from: string; to: string; cost: number }
  | { kind: 'move'; prefixes: string[]; router: string };

export interface Scenario {
  name: string;
  steps: WhatIfStep[];
}

/** A step that does not fit the network: names the step and what is wrong. */
export class WhatIfError extends Error {}

type RouterBody = Extract<LsaBody, { kind: 'router' }>;
type NetworkBody = Extract<LsaBody, { kind: 'network' }>;
const ROUTER_ID = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The network after `steps`: an edited copy of `lsdb` and the moved prefixes. `lsdb` is not changed. */
export function applySteps(lsdb: LinkStateDatabase, steps: readonly WhatIfStep[], now = Date.now()): { lsdb: LinkStateDatabase; moved: MovedPrefix[] } {
  const edited = lsdb.clone();
  const moved: MovedPrefix[] = [];
  steps.forEach((step, i) => {
    const where = `step ${i + 1} (${describeStep(step)})`;
    const network = new EditableNetwork(edited, now, where);
    if (step.kind === 'link-down') network.linkDown(step.a, step.b);
    else if (step.kind === 'router-down') network.routerDown(step.router);
    else if (step.kind === 'cost') network.setCost(step.from, step.to, step.cost);
    else {
      network.router(step.router);
      for (const prefix of step.prefixes) {
        parsePrefix(prefix);
        moved.push({ prefix, router: step.router });
      }
    }
  });
  return { lsdb: edited, moved };
}

/** One line for a step, as the command line writes it. */
export function describeStep(step: WhatIfStep): string {
  switch (step.kind) {
    case 'link-down': return `link-down ${step.a},${step.b}`;
    case 'router-down': return `router-down ${step.router}`;
    case 'cost': return `cost ${step.from},${step.to}=${step.cost}`;
    case 'move': return `move ${step.prefixes.join('+')}=${step.router}`;
  }
}

/** The router and network LSAs of every area, found by router ID or LAN prefix, and replaced when edited. */
class EditableNetwork {
  constructor(
    private readonly lsdb: LinkStateDatabase,
    private readonly now: number,
    private readonly where: string,
  ) {}

  /** Every area's router-LSA of `id`; at least one must exist. */
  router(id: string): { area: string; lsa: Lsa & { body: RouterBody } }[] {
    if (!ROUTER_ID.test(id)) throw new WhatIfError(`${this.where}: ${JSON.stringify(id)} is not a router ID (a dotted quad such as 10.0.0.1)`);
    const found = this.lsdb.areas().flatMap((area) =>
      this.lsdb.lsas(area, this.now).filter((l): l is Lsa & { body: RouterBody } => l.header.type === LsaType.ROUTER && l.header.advertisingRouter === id && l.body.kind === 'router').map((lsa) => ({ area, lsa })),
    );
    if (found.length === 0) throw new WhatIfError(`${this.where}: the database has no router ${id} (topo lsdb lists the routers)`);
    return found;
  }

  private hasRouter(id: string): boolean {
    return this.lsdb.areas().some((area) => this.lsdb.lsas(area, this.now).some((l) => l.header.type === LsaType.ROUTER && l.header.advertisingRouter === id));
  }

  /** The LAN with prefix `prefix` in `area`, or undefined. */
  private lan(area: string, prefix: string): (Lsa & { body: NetworkBody }) | undefined {
    return this.lsdb.lsas(area, this.now).find((l): l is Lsa & { body: NetworkBody } => l.header.type === LsaType.NETWORK && l.body.kind === 'network' && prefixOf(l.header.linkStateId, l.body.mask) === prefix);
  }

  private rewriteRouter(area: string, lsa: Lsa & { body: RouterBody }, links: RouterLink[]): void {
    const body = lsa.body;
    this.lsdb.replace(area, routerLsa(lsa.header.advertisingRouter, links, { border: body.border, external: body.external }, lsa.header.sequence + 1), this.now);
  }

  linkDown(a: string, b: string): void {
    if (b.includes('/')) return this.leaveLan(a, b);
    const ends = [...this.router(a), ...this.router(b)];
    let found = false;
    for (const { area, lsa } of ends) {
      const far = lsa.header.advertisingRouter === a ? b : a;
      const down = lsa.body.links.filter((l) => l.type === RouterLinkType.POINT_TO_POINT && l.linkId === far);
      if (down.length === 0) continue;
      found = true;
      // The stub of the link's subnet goes with it: the stub whose network holds the interface address.
      const inSubnet = (stub: RouterLink): boolean => down.some((p) => ((ipv4Number(p.linkData) & ipv4Number(stub.linkData)) >>> 0) === ipv4Number(stub.linkId) && maskLength(stub.linkData) < 32);
      this.rewriteRouter(area, lsa, lsa.body.links.filter((l) => !down.includes(l) && !(l.type === RouterLinkType.STUB && inSubnet(l))));
    }
    if (!found) throw new WhatIfError(`${this.where}: ${a} and ${b} share no point-to-point link (to take a router off a LAN, name the LAN: link-down ${a},10.0.0.0/24)`);
  }

  /** Router `id` leaves the LAN `prefix` (in whichever area it is). */
  private leaveLan(id: string, prefix: string): void {
    let found = false;
    for (const { area, lsa } of this.router(id)) {
      const lan = this.lan(area, prefix);
      if (!lan || !lsa.body.links.some((l) => l.type === RouterLinkType.TRANSIT && l.linkId === lan.header.linkStateId)) continue;
      found = true;
      this.rewriteRouter(area, lsa, lsa.body.links.filter((l) => !(l.type === RouterLinkType.TRANSIT && l.linkId === lan.header.linkStateId)));
      this.dropFromLan(area, lan, id);
    }
    if (!found) throw new WhatIfError(`${this.where}: router ${id} is not on a LAN ${prefix} (topo lsdb lists the network LSAs)`);
  }

  /** Removes `id` from the LAN's attached routers; one router left makes the LAN its stub network. */
  private dropFromLan(area: string, lan: Lsa & { body: NetworkBody }, id: string): void {
    const left = lan.body.attachedRouters.filter((r) => r !== id);
    if (left.length >= 2) {
      this.lsdb.replace(area, networkLsa(lan.header.linkStateId, lan.header.advertisingRouter, lan.body.mask, left, lan.header.sequence + 1), this.now);
      return;
    }
    this.lsdb.remove(area, lan.header);
    for (const other of left) {
      const held = this.lsdb.lsas(area, this.now).find((l): l is Lsa & { body: RouterBody } => l.header.type === LsaType.ROUTER && l.header.advertisingRouter === other && l.body.kind === 'router');
      if (!held) continue;
      const links = held.body.links.map((l) =>
        l.type === RouterLinkType.TRANSIT && l.linkId === lan.header.linkStateId
          ? { type: RouterLinkType.STUB, linkId: prefixOf(lan.header.linkStateId, lan.body.mask).split('/')[0], linkData: lan.body.mask, metric: l.metric }
          : l,
      );
      this.rewriteRouter(area, held, links);
    }
  }

  routerDown(id: string): void {
    const neighbours = new Set(this.router(id).flatMap(({ lsa }) => lsa.body.links.filter((l) => l.type === RouterLinkType.POINT_TO_POINT).map((l) => l.linkId)));
    for (const neighbour of neighbours) if (this.hasRouter(neighbour)) this.linkDown(id, neighbour);
    for (const { area, lsa } of this.router(id)) {
      for (const link of lsa.body.links) {
        if (link.type !== RouterLinkType.TRANSIT) continue;
        const lan = this.lsdb.lsas(area, this.now).find((l): l is Lsa & { body: NetworkBody } => l.header.type === LsaType.NETWORK && l.header.linkStateId === link.linkId && l.body.kind === 'network');
        if (lan) this.dropFromLan(area, lan, id);
      }
    }
    for (const scope of [...this.lsdb.areas(), AS_SCOPE]) {
      for (const lsa of this.lsdb.lsas(scope, this.now)) {
        if (lsa.header.advertisingRouter === id && lsa.header.type !== LsaType.NETWORK) this.lsdb.remove(scope, lsa.header);
      }
    }
  }

  setCost(from: string, to: string, cost: number): void {
    if (!Number.isInteger(cost) || cost < 1 || cost > 0xffff) throw new WhatIfError(`${this.where}: a cost is a whole number from 1 to 65535 (got ${cost})`);
    let found = false;
    for (const { area, lsa } of this.router(from)) {
      const lan = to.includes('/') ? this.lan(area, to) : undefined;
      const matches = (l: RouterLink): boolean =>
        lan ? l.type === RouterLinkType.TRANSIT && l.linkId === lan.header.linkStateId : l.type === RouterLinkType.POINT_TO_POINT && l.linkId === to;
      if (!lsa.body.links.some(matches)) continue;
      found = true;
      this.rewriteRouter(area, lsa, lsa.body.links.map((l) => (matches(l) ? { ...l, metric: cost } : l)));
    }
    if (!found) throw new WhatIfError(`${this.where}: router ${from} has no link to ${to} (a neighbour's router ID, or a LAN prefix such as 10.0.0.0/24)`);
  }
}

/**
 * A step from its command-line text: `link-down A,B` (B a router ID or a LAN prefix),
 * `router-down A`, `cost A,B=N`, `move PREFIX[+PREFIX…]=ROUTER`.
 */
export function parseStep(kind: WhatIfStep['kind'], text: string): WhatIfStep {
  const fail = (expected: string): never => {
    throw new WhatIfError(`Cannot read --${kind} ${JSON.stringify(text)}: expected ${expected}`);
  };
  const value = text.trim();
  if (kind === 'router-down') return ROUTER_ID.test(value) ? { kind, router: value } : fail('a router ID such as 10.0.0.1');
  if (kind === 'link-down') {
    const [a, b, ...rest] = value.split(',').map((x) => x.trim());
    return rest.length === 0 && ROUTER_ID.test(a ?? '') && b !== undefined && (ROUTER_ID.test(b) || isPrefix(b)) ? { kind, a, b } : fail('ROUTER,ROUTER or ROUTER,LAN-PREFIX such as 10.0.0.1,10.0.0.2');
  }
  if (kind === 'cost') {
    const match = /^([^,=]+),([^=]+)=(\d+)$/.exec(value);
    if (!match || !ROUTER_ID.test(match[1].trim()) || !(ROUTER_ID.test(match[2].trim()) || isPrefix(match[2].trim()))) fail('FROM,TO=COST such as 10.0.0.1,10.0.0.2=50');
    return { kind, from: match![1].trim(), to: match![2].trim(), cost: Number(match![3]) };
  }
  const match = /^([^=]+)=(.+)$/.exec(value);
  if (!match || !ROUTER_ID.test(match[2].trim())) fail('PREFIX[+PREFIX…]=ROUTER such as 10.1.0.25+10.1.0.26=10.0.0.3');
  const prefixes = match![1].split('+').map((p) => p.trim());
  if (!prefixes.every(isPrefix)) fail('IPv4 addresses or prefixes (a.b.c.d/len) before the =');
  return { kind: 'move', prefixes, router: match![2].trim() };
}

function isPrefix(text: string): boolean {
  try {
    parsePrefix(text);
    return true;
  } catch {
    return false;
  }
}
