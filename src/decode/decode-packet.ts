import { DecodeIssue, type DecodeIssueCode } from './decode-issue.js';
import type { DecodedPacket } from './decoded-packet.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { decodeLinkLayer } from './link-layer.js';

/**
 * Decodes the packet at `data[offset .. offset + caplen)`, captured from a `linkType` link and
 * `wirelen` bytes long on the wire, into `out`. Returns null on success, or an issue code for the
 * caller to count (the packet is then to be skipped and `out` is partly filled). Never throws,
 * never allocates, and does a bounded amount of work per packet.
 */
export function decodePacket(
  data: Uint8Array,
  offset: number,
  caplen: number,
  wirelen: number,
  linkType: number,
  out: DecodedPacket,
): DecodeIssueCode | null {
  const capEnd = offset + caplen;
  // Written negated so that NaN arguments fail too.
  if (!(offset >= 0 && caplen >= 0 && capEnd <= data.length)) return DecodeIssue.BAD_CAPTURE_BOUNDS;
  // A frame cannot be shorter on the wire than in the capture; a writer that says so is wrong, and
  // the captured bytes are the better evidence.
  const wireEnd = wirelen > caplen ? offset + wirelen : capEnd;
  const issue = decodeLinkLayer(data, offset, capEnd, linkType, out);
  if (issue !== null) return issue;
  return out.ipVersion === 4
    ? decodeIpv4(data, out.ipOffset, capEnd, wireEnd, out)
    : decodeIpv6(data, out.ipOffset, capEnd, wireEnd, out);
}
