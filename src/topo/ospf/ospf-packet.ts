/**
 * OSPFv2 packets (RFC 2328 appendix A.3): the 24-byte header and the bodies of Hello, Database
 * Description, Link State Request, Link State Update and Link State Acknowledgment. The input is an
 * IP payload of protocol 89; every length is checked against the bytes there, and a problem is an
 * issue code, never an exception. An LSA inside an update that is damaged is counted and skipped;
 * the others are kept.
 */
import { decodeLsa, decodeLsaHeader, LSA_HEADER_BYTES, MAX_AGE_S, type Lsa, type LsaHeader } from './lsa.js';
import { ipv4At, OspfIssue, type OspfIssueCode } from './ospf-issue.js';

export const OSPF_HEADER_BYTES = 24;
export const OspfPacketType = { HELLO: 1, DATABASE_DESCRIPTION: 2, LINK_STATE_REQUEST: 3, LINK_STATE_UPDATE: 4, LINK_STATE_ACK: 5 } as const;

export interface OspfHeader {
  type: number;
  length: number;
  routerId: string;
  areaId: string;
  authType: number;
}

export type OspfBody =
  | { kind: 'hello'; networkMask: string; helloInterval: number; options: number; priority: number; deadInterval: number; designatedRouter: string; backupDesignatedRouter: string; neighbors: string[] }
  | { kind: 'database-description'; mtu: number; options: number; init: boolean; more: boolean; master: boolean; sequence: number; headers: LsaHeader[] }
  | { kind: 'link-state-request'; requests: { type: number; linkStateId: string; advertisingRouter: string }[] }
  /** `skipped`: LSAs of the update that were damaged, by reason. */
  | { kind: 'link-state-update'; lsas: Lsa[]; skipped: OspfIssueCode[] }
  | { kind: 'link-state-ack'; headers: LsaHeader[] };

export interface OspfPacket {
  header: OspfHeader;
  body: OspfBody;
}

/** Decodes the OSPF packet in `data[at .. end)` (an IP payload). */
export function decodeOspfPacket(data: Uint8Array, at = 0, end = data.length): OspfPacket | OspfIssueCode {
  if (end - at < OSPF_HEADER_BYTES) return OspfIssue.TRUNCATED_OSPF_HEADER;
  const view = new DataView(data.buffer, data.byteOffset + at, end - at);
  if (data[at] !== 2) return OspfIssue.BAD_OSPF_VERSION;
  const type = data[at + 1];
  const length = view.getUint16(2);
  if (length < OSPF_HEADER_BYTES || length > end - at) return OspfIssue.BAD_OSPF_LENGTH;
  if (type < 1 || type > 5) return OspfIssue.UNKNOWN_OSPF_PACKET_TYPE;
  const authType = view.getUint16(14);
  // Cryptographic authentication (type 2) has no checksum: the digest after the packet covers it.
  if (authType !== 2 && !packetChecksumValid(data, at, length)) return OspfIssue.BAD_OSPF_CHECKSUM;
  const header: OspfHeader = { type, length, routerId: ipv4At(data, at + 4), areaId: ipv4At(data, at + 8), authType };
  const bodyStart = at + OSPF_HEADER_BYTES;
  const bodyEnd = at + length;
  const body = decodeBody(type, data, bodyStart, bodyEnd);
  if (typeof body === 'string') return body;
  return { header, body };
}

function decodeBody(type: number, data: Uint8Array, at: number, end: number): OspfBody | OspfIssueCode {
  const view = new DataView(data.buffer, data.byteOffset + at, end - at);
  const left = end - at;
  switch (type) {
    case OspfPacketType.HELLO: {
      // A.3.2: mask, hello interval, options, priority, dead interval, DR, BDR, then neighbours.
      if (left < 20 || (left - 20) % 4 !== 0) return OspfIssue.TRUNCATED_OSPF_BODY;
      const neighbors: string[] = [];
      for (let p = at + 20; p < end; p += 4) neighbors.push(ipv4At(data, p));
      return {
        kind: 'hello', networkMask: ipv4At(data, at), helloInterval: view.getUint16(4), options: data[at + 6], priority: data[at + 7],
        deadInterval: view.getUint32(8), designatedRouter: ipv4At(data, at + 12), backupDesignatedRouter: ipv4At(data, at + 16), neighbors,
      };
    }
    case OspfPacketType.DATABASE_DESCRIPTION: {
      // A.3.3: interface MTU, options, the I/M/MS bits, the DD sequence number, then LSA headers.
      if (left < 8 || (left - 8) % LSA_HEADER_BYTES !== 0) return OspfIssue.TRUNCATED_OSPF_BODY;
      const headers = lsaHeaders(data, at + 8, end);
      if (typeof headers === 'string') return headers;
      const bits = data[at + 3];
      return { kind: 'database-description', mtu: view.getUint16(0), options: data[at + 2], init: (bits & 4) !== 0, more: (bits & 2) !== 0, master: (bits & 1) !== 0, sequence: view.getUint32(4), headers };
    }
    case OspfPacketType.LINK_STATE_REQUEST: {
      // A.3.4: 12 bytes per request: LS type, link state ID, advertising router.
      if (left % 12 !== 0) return OspfIssue.TRUNCATED_OSPF_BODY;
      const requests = [];
      for (let p = at; p < end; p += 12) requests.push({ type: view.getUint32(p - at), linkStateId: ipv4At(data, p + 4), advertisingRouter: ipv4At(data, p + 8) });
      return { kind: 'link-state-request', requests };
    }
    case OspfPacketType.LINK_STATE_UPDATE: {
      // A.3.5: the number of LSAs, then the LSAs, each as long as its header says.
      if (left < 4) return OspfIssue.TRUNCATED_OSPF_BODY;
      const count = view.getUint32(0);
      const lsas: Lsa[] = [];
      const skipped: OspfIssueCode[] = [];
      let p = at + 4;
      for (let i = 0; i < count && p < end; i++) {
        const header = decodeLsaHeader(data, p, end);
        if (typeof header === 'string') return header;
        // A length that cannot be walked over ends the packet: nothing after it can be found.
        if (header.length < LSA_HEADER_BYTES || header.length % 4 !== 0 || header.length > end - p) {
          skipped.push(header.length > end - p ? OspfIssue.LSA_LENGTH_EXCEEDS_PACKET : OspfIssue.BAD_LSA_LENGTH);
          break;
        }
        const lsa = decodeLsa(data, p, end);
        if (typeof lsa === 'string') skipped.push(lsa);
        else if (lsa.header.sequence === -0x80000000) skipped.push(OspfIssue.BAD_LSA_SEQUENCE);
        else if (lsa.header.age > MAX_AGE_S) skipped.push(OspfIssue.BAD_LSA_AGE);
        else lsas.push(lsa);
        p += header.length;
      }
      return { kind: 'link-state-update', lsas, skipped };
    }
    case OspfPacketType.LINK_STATE_ACK: {
      if (left % LSA_HEADER_BYTES !== 0) return OspfIssue.TRUNCATED_OSPF_BODY;
      const headers = lsaHeaders(data, at, end);
      if (typeof headers === 'string') return headers;
      return { kind: 'link-state-ack', headers };
    }
    default:
      return OspfIssue.UNKNOWN_OSPF_PACKET_TYPE;
  }
}

function lsaHeaders(data: Uint8Array, at: number, end: number): LsaHeader[] | OspfIssueCode {
  const headers: LsaHeader[] = [];
  for (let p = at; p + LSA_HEADER_BYTES <= end; p += LSA_HEADER_BYTES) {
    const header = decodeLsaHeader(data, p, end);
    if (typeof header === 'string') return header;
    headers.push(header);
  }
  return headers;
}

/**
 * RFC 2328 A.3.1: the 16-bit one's complement of the one's complement sum of the packet, the
 * 64-bit authentication field excluded. Over the packet with the checksum in place, the sum is 0xffff.
 */
export function packetChecksumValid(data: Uint8Array, at: number, length: number): boolean {
  return onesComplementSum(data, at, length) === 0xffff;
}

/** Sets the checksum of a packet built in `data[at .. at + length)` (authentication type 0 or 1). */
export function setPacketChecksum(data: Uint8Array, at: number, length: number): void {
  data[at + 12] = 0;
  data[at + 13] = 0;
  const sum = ~onesComplementSum(data, at, length) & 0xffff;
  data[at + 12] = sum >> 8;
  data[at + 13] = sum & 0xff;
}

function onesComplementSum(data: Uint8Array, at: number, length: number): number {
  let sum = 0;
  for (let i = 0; i < length; i += 2) {
    if (i >= 16 && i < 24) continue; // the authentication field
    sum += (data[at + i] << 8) | (i + 1 < length ? data[at + i + 1] : 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}
