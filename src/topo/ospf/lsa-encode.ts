/**
 * OSPFv2 LSAs built from their fields (RFC 2328 A.4), with the length and the checksum set, and read
 * back through the decoder: what the benchmark's generated networks and the tests flood into a
 * database is exactly what a router would.
 */
import { decodeLsa, LsaType, setLsaChecksum, type Lsa, type RouterLink } from './lsa.js';

/** Big-endian bytes of a dotted quad, a 16-bit and a 32-bit number (network order, RFC 2328 A.1). */
export const ip = (text: string): number[] => text.split('.').map(Number);
export const u16 = (n: number): number[] => [(n >> 8) & 255, n & 255];
export const u32 = (n: number): number[] => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];

export interface LsaFields {
  linkStateId: string;
  advertisingRouter: string;
  /** Default 0x80000001, the first instance. */
  sequence?: number;
  age?: number;
}

function build(type: number, fields: LsaFields, body: number[]): Lsa {
  const bytes = new Uint8Array([
    ...u16(fields.age ?? 0), 0x02, type, ...ip(fields.linkStateId), ...ip(fields.advertisingRouter), ...u32((fields.sequence ?? 0x80000001) >>> 0), 0, 0, ...u16(20 + body.length), ...body,
  ]);
  setLsaChecksum(bytes);
  const lsa = decodeLsa(bytes, 0, bytes.length);
  if (typeof lsa === 'string') throw new Error(`an LSA built from its fields does not decode: ${lsa}`);
  return lsa;
}

/** A router-LSA (type 1) of router `id`; flags: border (B), external (E). */
export function routerLsa(id: string, links: readonly RouterLink[], flags: { border?: boolean; external?: boolean } = {}, sequence?: number): Lsa {
  const body = [(flags.border ? 1 : 0) | (flags.external ? 2 : 0), 0, ...u16(links.length)];
  for (const link of links) body.push(...ip(link.linkId), ...ip(link.linkData), link.type, 0, ...u16(link.metric));
  return build(LsaType.ROUTER, { linkStateId: id, advertisingRouter: id, sequence }, body);
}

/** A network-LSA (type 2) of the network whose DR has address `drAddress`. */
export function networkLsa(drAddress: string, dr: string, mask: string, attachedRouters: readonly string[], sequence?: number): Lsa {
  return build(LsaType.NETWORK, { linkStateId: drAddress, advertisingRouter: dr, sequence }, [...ip(mask), ...attachedRouters.flatMap(ip)]);
}

/** A summary-LSA from area border router `abr`: type 3 for a network, type 4 (`asbr`) for an AS boundary router. */
export function summaryLsa(network: string, abr: string, mask: string, metric: number, sequence?: number, asbr = false): Lsa {
  return build(asbr ? LsaType.SUMMARY_ASBR : LsaType.SUMMARY_NETWORK, { linkStateId: network, advertisingRouter: abr, sequence }, [...ip(mask), 0, ...u32(metric).slice(1)]);
}

/** An AS-external-LSA (type 5, or 7 for an NSSA) from `asbr`. */
export function externalLsa(
  network: string, asbr: string, mask: string, metric: number,
  options: { type?: 1 | 2; forwardingAddress?: string; routeTag?: number; sequence?: number; nssa?: boolean } = {},
): Lsa {
  const body = [...ip(mask), options.type === 1 ? 0 : 0x80, ...u32(metric).slice(1), ...ip(options.forwardingAddress ?? '0.0.0.0'), ...u32(options.routeTag ?? 0)];
  return build(options.nssa ? LsaType.NSSA_EXTERNAL : LsaType.AS_EXTERNAL, { linkStateId: network, advertisingRouter: asbr, sequence: options.sequence }, body);
}
