/**
 * OSPFv2 link-state advertisements (RFC 2328 appendix A.4; type 7 from RFC 3101 §2.3): the 20-byte
 * header and the bodies of types 1 (router), 2 (network), 3 and 4 (summary), 5 (AS-external) and
 * 7 (NSSA external). Bytes come from the wire: every length is checked against the bytes there,
 * and a problem is an issue code, never an exception.
 */
import { ipv4At, type OspfIssueCode, OspfIssue } from './ospf-issue.js';

export const LSA_HEADER_BYTES = 20;
/** RFC 2328 appendix B: an LSA this old is being flushed. */
export const MAX_AGE_S = 3600;
/** RFC 2328 §12.1.6: the largest sequence number; the next instance needs a flush first. */
export const MAX_SEQUENCE_NUMBER = 0x7fffffff;

export const LsaType = { ROUTER: 1, NETWORK: 2, SUMMARY_NETWORK: 3, SUMMARY_ASBR: 4, AS_EXTERNAL: 5, NSSA_EXTERNAL: 7 } as const;

/** RFC 2328 A.4.1. */
export interface LsaHeader {
  age: number;
  options: number;
  type: number;
  /** Dotted quad. */
  linkStateId: string;
  advertisingRouter: string;
  /** Signed 32-bit (RFC 2328 §12.1.6: 0x80000001 is the smallest in use). */
  sequence: number;
  checksum: number;
  length: number;
}

/** Router-LSA link types (RFC 2328 A.4.2). */
export const RouterLinkType = { POINT_TO_POINT: 1, TRANSIT: 2, STUB: 3, VIRTUAL: 4 } as const;

export interface RouterLink {
  type: number;
  /** p2p and virtual: the neighbour's router ID; transit: the DR's interface address; stub: the network. */
  linkId: string;
  /** p2p and transit: this router's interface address (or ifIndex for unnumbered links); stub: the mask. */
  linkData: string;
  /** The TOS 0 metric (other TOS metrics are obsolete, RFC 2328 appendix F.1.2). */
  metric: number;
}

export type LsaBody =
  | { kind: 'router'; virtualEndpoint: boolean; external: boolean; border: boolean; links: RouterLink[] }
  | { kind: 'network'; mask: string; attachedRouters: string[] }
  | { kind: 'summary'; mask: string; metric: number }
  | { kind: 'external'; mask: string; externalType: 1 | 2; metric: number; forwardingAddress: string; routeTag: number }
  | { kind: 'unknown' };

export interface Lsa {
  header: LsaHeader;
  body: LsaBody;
  /** The LSA's bytes, as flooded (kept for comparisons and re-encoding). */
  bytes: Uint8Array;
}

/** The LSA header at `data[at ..]`, or an issue; 20 bytes must be there. */
export function decodeLsaHeader(data: Uint8Array, at: number, end: number): LsaHeader | OspfIssueCode {
  if (end - at < LSA_HEADER_BYTES) return OspfIssue.TRUNCATED_LSA_HEADER;
  const view = new DataView(data.buffer, data.byteOffset + at, LSA_HEADER_BYTES);
  return {
    age: view.getUint16(0),
    options: data[at + 2],
    type: data[at + 3],
    linkStateId: ipv4At(data, at + 4),
    advertisingRouter: ipv4At(data, at + 8),
    sequence: view.getInt32(12),
    checksum: view.getUint16(16),
    length: view.getUint16(18),
  };
}

/** A whole LSA at `data[at ..]` whose header says `length` bytes; checks the length and the checksum. */
export function decodeLsa(data: Uint8Array, at: number, end: number): Lsa | OspfIssueCode {
  const header = decodeLsaHeader(data, at, end);
  if (typeof header === 'string') return header;
  if (header.length < LSA_HEADER_BYTES || header.length % 4 !== 0) return OspfIssue.BAD_LSA_LENGTH;
  if (end - at < header.length) return OspfIssue.LSA_LENGTH_EXCEEDS_PACKET;
  const bytes = data.subarray(at, at + header.length);
  if (!lsaChecksumValid(bytes)) return OspfIssue.BAD_LSA_CHECKSUM;
  const body = decodeBody(header.type, bytes);
  if (typeof body === 'string') return body;
  return { header, body, bytes };
}

function decodeBody(type: number, lsa: Uint8Array): LsaBody | OspfIssueCode {
  const view = new DataView(lsa.buffer, lsa.byteOffset, lsa.length);
  const at = LSA_HEADER_BYTES;
  const left = lsa.length - at;
  switch (type) {
    case LsaType.ROUTER: {
      // A.4.2: flags (V, E, B), a zero byte, the number of links, then the links.
      if (left < 4) return OspfIssue.TRUNCATED_LSA_BODY;
      const flags = lsa[at];
      const count = view.getUint16(at + 2);
      const links: RouterLink[] = [];
      let p = at + 4;
      for (let i = 0; i < count; i++) {
        if (lsa.length - p < 12) return OspfIssue.TRUNCATED_LSA_BODY;
        const tosCount = lsa[p + 9];
        links.push({ linkId: ipv4At(lsa, p), linkData: ipv4At(lsa, p + 4), type: lsa[p + 8], metric: view.getUint16(p + 10) });
        p += 12 + 4 * tosCount;
        if (p > lsa.length) return OspfIssue.TRUNCATED_LSA_BODY;
      }
      return { kind: 'router', virtualEndpoint: (flags & 0x04) !== 0, external: (flags & 0x02) !== 0, border: (flags & 0x01) !== 0, links };
    }
    case LsaType.NETWORK: {
      // A.4.3: the mask, then one router ID per attached router.
      if (left < 4 || left % 4 !== 0) return OspfIssue.TRUNCATED_LSA_BODY;
      const attachedRouters: string[] = [];
      for (let p = at + 4; p < lsa.length; p += 4) attachedRouters.push(ipv4At(lsa, p));
      return { kind: 'network', mask: ipv4At(lsa, at), attachedRouters };
    }
    case LsaType.SUMMARY_NETWORK:
    case LsaType.SUMMARY_ASBR: {
      // A.4.4: the mask, a zero byte, a 24-bit metric (TOS entries after it are ignored).
      if (left < 8) return OspfIssue.TRUNCATED_LSA_BODY;
      return { kind: 'summary', mask: ipv4At(lsa, at), metric: view.getUint32(at + 4) & 0xffffff };
    }
    case LsaType.AS_EXTERNAL:
    case LsaType.NSSA_EXTERNAL: {
      // A.4.5 (and RFC 3101 §2.3, the same layout): the mask, then E bit and 24-bit metric, forwarding address, tag.
      if (left < 16) return OspfIssue.TRUNCATED_LSA_BODY;
      const word = view.getUint32(at + 4);
      return {
        kind: 'external', mask: ipv4At(lsa, at), externalType: (word & 0x80000000) !== 0 ? 2 : 1, metric: word & 0xffffff,
        forwardingAddress: ipv4At(lsa, at + 8), routeTag: view.getUint32(at + 12),
      };
    }
    default:
      return { kind: 'unknown' };
  }
}

/**
 * The LSA checksum (RFC 2328 §12.1.7): the Fletcher checksum of ISO 8473 (RFC 905 annex B) over
 * the whole LSA but the age. Over the bytes with the checksum in place, both running sums are 0
 * (mod 255) when it is right; a checksum of 0 is never valid for an LSA.
 */
export function lsaChecksumValid(lsa: Uint8Array): boolean {
  if (lsa.length < LSA_HEADER_BYTES || (lsa[16] === 0 && lsa[17] === 0)) return false;
  let c0 = 0;
  let c1 = 0;
  for (let i = 2; i < lsa.length; i++) {
    c0 = (c0 + lsa[i]) % 255;
    c1 = (c1 + c0) % 255;
  }
  return c0 === 0 && c1 === 0;
}

/** Sets the checksum of an LSA built in `lsa` (bytes 16–17), as a router computes it (RFC 905 annex B.2). */
export function setLsaChecksum(lsa: Uint8Array): void {
  lsa[16] = 0;
  lsa[17] = 0;
  let c0 = 0;
  let c1 = 0;
  for (let i = 2; i < lsa.length; i++) {
    c0 = (c0 + lsa[i]) % 255;
    c1 = (c1 + c0) % 255;
  }
  // The checksum's position, counted from 1 at the first checksummed byte (the options, offset 2).
  const position = 16 - 2 + 1;
  let x = ((lsa.length - 2 - position) * c0 - c1) % 255;
  if (x <= 0) x += 255;
  let y = 510 - c0 - x;
  if (y > 255) y -= 255;
  lsa[16] = x;
  lsa[17] = y;
}

/** A key for one LSA in a database: type, link state ID, advertising router (RFC 2328 §12.1). */
export function lsaKey(header: Pick<LsaHeader, 'type' | 'linkStateId' | 'advertisingRouter'>): string {
  return `${header.type}/${header.linkStateId}/${header.advertisingRouter}`;
}
