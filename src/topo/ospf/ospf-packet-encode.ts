/**
 * OSPFv2 packets built from their fields (RFC 2328 appendix A.3), for the adjacency
 * (ospf-adjacency.ts): the 24-byte header with null authentication (type 0) and its checksum, and
 * the bodies of Hello, Database Description, Link State Request, Link State Update and Link State
 * Acknowledgment. The decoder (ospf-packet.ts) reads each back in the tests.
 */
import { LSA_HEADER_BYTES, type LsaHeader } from './lsa.js';
import { ip, u16, u32 } from './lsa-encode.js';
import { OSPF_HEADER_BYTES, OspfPacketType, setPacketChecksum } from './ospf-packet.js';


/** Who sends: the router ID and the area of the interface. */
export interface PacketOrigin {
  routerId: string;
  areaId: string;
}

function packet(type: number, origin: PacketOrigin, body: ArrayLike<number>): Uint8Array {
  const length = OSPF_HEADER_BYTES + body.length;
  const bytes = new Uint8Array(length);
  // A.3.1: version 2, type, length, router ID, area ID, checksum (set below), AuType 0, 8 zero bytes.
  bytes.set([2, type, ...u16(length), ...ip(origin.routerId), ...ip(origin.areaId)]);
  bytes.set(body, OSPF_HEADER_BYTES);
  setPacketChecksum(bytes, 0, length);
  return bytes;
}

export interface HelloFields {
  networkMask: string;
  helloInterval: number;
  options: number;
  priority: number;
  deadInterval: number;
  designatedRouter: string;
  backupDesignatedRouter: string;
  /** Router IDs heard from within the dead interval. */
  neighbors: readonly string[];
}

/** A.3.2. */
export function helloPacket(origin: PacketOrigin, hello: HelloFields): Uint8Array {
  return packet(OspfPacketType.HELLO, origin, [
    ...ip(hello.networkMask), ...u16(hello.helloInterval), hello.options, hello.priority, ...u32(hello.deadInterval),
    ...ip(hello.designatedRouter), ...ip(hello.backupDesignatedRouter), ...hello.neighbors.flatMap(ip),
  ]);
}

export interface DatabaseDescriptionFields {
  mtu: number;
  options: number;
  init: boolean;
  more: boolean;
  master: boolean;
  sequence: number;
  /** LSA headers: the first 20 bytes of each LSA, as held. */
  headers: readonly Uint8Array[];
}

/** A.3.3. */
export function databaseDescriptionPacket(origin: PacketOrigin, dd: DatabaseDescriptionFields): Uint8Array {
  const body = new Uint8Array(8 + dd.headers.length * LSA_HEADER_BYTES);
  body.set([...u16(dd.mtu), dd.options, (dd.init ? 4 : 0) | (dd.more ? 2 : 0) | (dd.master ? 1 : 0), ...u32(dd.sequence)]);
  dd.headers.forEach((header, i) => body.set(header.subarray(0, LSA_HEADER_BYTES), 8 + i * LSA_HEADER_BYTES));
  return packet(OspfPacketType.DATABASE_DESCRIPTION, origin, body);
}

/** A.3.4: one request per LSA wanted. */
export function linkStateRequestPacket(origin: PacketOrigin, requests: readonly Pick<LsaHeader, 'type' | 'linkStateId' | 'advertisingRouter'>[]): Uint8Array {
  return packet(OspfPacketType.LINK_STATE_REQUEST, origin, requests.flatMap((r) => [...u32(r.type), ...ip(r.linkStateId), ...ip(r.advertisingRouter)]));
}

/** A.3.5: whole LSAs, each as held (their ages already set by the caller). */
export function linkStateUpdatePacket(origin: PacketOrigin, lsas: readonly Uint8Array[]): Uint8Array {
  const body = new Uint8Array(4 + lsas.reduce((n, l) => n + l.length, 0));
  body.set(u32(lsas.length));
  let at = 4;
  for (const lsa of lsas) {
    body.set(lsa, at);
    at += lsa.length;
  }
  return packet(OspfPacketType.LINK_STATE_UPDATE, origin, body);
}

/** A.3.6: the headers of the LSAs acknowledged. */
export function linkStateAckPacket(origin: PacketOrigin, headers: readonly Uint8Array[]): Uint8Array {
  const body = new Uint8Array(headers.length * LSA_HEADER_BYTES);
  headers.forEach((header, i) => body.set(header.subarray(0, LSA_HEADER_BYTES), i * LSA_HEADER_BYTES));
  return packet(OspfPacketType.LINK_STATE_ACK, origin, body);
}

/**
 * A copy of an LSA's bytes with its age set (RFC 2328 §13.3: the age grows by InfTransDelay when sent;
 * the age is outside the checksum, §12.1.7).
 */
export function withAge(lsa: Uint8Array, ageS: number): Uint8Array {
  const copy = lsa.slice();
  copy[0] = (ageS >> 8) & 255;
  copy[1] = ageS & 255;
  return copy;
}
