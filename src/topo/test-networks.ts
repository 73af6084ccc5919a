/**
 * Test support: the small network whose loads the tests work out by hand (not exported from an
 * index). r1 and r2 on a LAN (r1 the designated router, cost 1 each way); r1–r3 at 10, r2–r3 at 9,
 * r3–r4 at 5. From r1 to r4 two paths cost 15 (r1–r3–r4, r1–LAN–r2–r3–r4); from r3 to r1 two cost
 * 10 (r3–r1, r3–r2–LAN).
 */
import type { Demand } from './link-loads.js';

export const HAND_LINKS = [
  { a: '0.0.0.1', b: '0.0.0.3', cost: 10, subnet: '10.0.13.0/30' },
  { a: '0.0.0.2', b: '0.0.0.3', cost: 9, subnet: '10.0.23.0/30' },
  { a: '0.0.0.3', b: '0.0.0.4', cost: 5, subnet: '10.0.34.0/30' },
];

/** The network as a parsed topology file (topologyDatabase's input), with `links` (default all). */
export function handTopology(links = HAND_LINKS) {
  return {
    routers: [
      { id: '0.0.0.1', stubs: [{ prefix: '10.1.0.0/24', cost: 1 }], asbr: false },
      { id: '0.0.0.2', stubs: [], asbr: false },
      { id: '0.0.0.3', stubs: [], asbr: false },
      { id: '0.0.0.4', stubs: [{ prefix: '10.4.0.0/24', cost: 1 }], asbr: false },
    ],
    links,
    lans: [{ prefix: '10.0.0.0/24', dr: '0.0.0.1', members: { '0.0.0.1': 1, '0.0.0.2': 1 } }],
    externals: [],
  };
}

/** Three pairs: r1 to r4 (1,200 bytes), r4 to r1 (300), a LAN host to r4 (40). */
export const HAND_DEMANDS: Demand[] = [
  { src: '10.1.0.5', dst: '10.4.0.5', bytes: 1200, app: 'tcp/443', user: 'alice' },
  { src: '10.4.0.9', dst: '10.1.0.1', bytes: 300, app: 'udp/53', user: 'bob' },
  { src: '10.0.0.7', dst: '10.4.0.1', bytes: 40, app: 'tcp/25', user: 'carol' },
];
