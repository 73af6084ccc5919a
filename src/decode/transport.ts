import { DecodeIssue, type DecodeIssueCode } from './decode-issue.js';
import type { DecodedPacket } from './decoded-packet.js';
import { IpProtocol } from './ip-protocol.js';

/**
 * Bytes of each transport header that the decoder reads. A packet whose captured IP payload is
 * shorter is skipped with `truncated_<protocol>` rather than counted with ports 0: a made-up port
 * would put it into a phantom flow with a wrong 5-tuple, which is worse than a counted, visible skip.
 * TCP needs its flags byte (offset 13, RFC 9293 §3.1) as well as its ports, because the flow meter
 * ends flows on FIN/RST.
 */
const TCP_BYTES_READ = 14;
/** UDP (RFC 768) and SCTP (RFC 9260 §3.1): source and destination port are the first 4 bytes. */
const PORTS_BYTES_READ = 4;
/** ICMP (RFC 792) and ICMPv6 (RFC 4443 §2.1): type and code are the first 2 bytes. */
const ICMP_BYTES_READ = 2;

/**
 * Decodes the transport header at `data[start .. end)` (`end` = end of the captured IP payload):
 * sets `out.protocol`, `out.srcPort`, `out.dstPort` and `out.tcpFlags`. Returns null or an issue code.
 */
export function decodeTransport(
  data: Uint8Array,
  start: number,
  end: number,
  protocol: number,
  out: DecodedPacket,
): DecodeIssueCode | null {
  out.protocol = protocol;
  out.tcpFlags = 0;
  switch (protocol) {
    case IpProtocol.TCP:
      if (end - start < TCP_BYTES_READ) return DecodeIssue.TRUNCATED_TCP;
      out.srcPort = (data[start] << 8) | data[start + 1];
      out.dstPort = (data[start + 2] << 8) | data[start + 3];
      out.tcpFlags = data[start + 13];
      return null;
    case IpProtocol.UDP:
      if (end - start < PORTS_BYTES_READ) return DecodeIssue.TRUNCATED_UDP;
      out.srcPort = (data[start] << 8) | data[start + 1];
      out.dstPort = (data[start + 2] << 8) | data[start + 3];
      return null;
    case IpProtocol.SCTP:
      if (end - start < PORTS_BYTES_READ) return DecodeIssue.TRUNCATED_SCTP;
      out.srcPort = (data[start] << 8) | data[start + 1];
      out.dstPort = (data[start + 2] << 8) | data[start + 3];
      return null;
    case IpProtocol.ICMP:
      if (end - start < ICMP_BYTES_READ) return DecodeIssue.TRUNCATED_ICMP;
      // NetFlow v5/v9 convention: source port 0, destination port type*256 + code.
      out.srcPort = 0;
      out.dstPort = (data[start] << 8) | data[start + 1];
      return null;
    case IpProtocol.ICMPV6:
      if (end - start < ICMP_BYTES_READ) return DecodeIssue.TRUNCATED_ICMPV6;
      out.srcPort = 0;
      out.dstPort = (data[start] << 8) | data[start + 1];
      return null;
    default:
      // GRE, ESP, AH (IPv4), IP-in-IP and everything else: no ports; tunnels are not decapsulated,
      // so the flow is the outer one, as a router's NetFlow meter sees it.
      out.srcPort = 0;
      out.dstPort = 0;
      return null;
  }
}

/** Records `protocol` with no transport header (non-first fragment, ESP, No Next Header): ports 0. */
export function setNoTransportHeader(protocol: number, out: DecodedPacket): null {
  out.protocol = protocol;
  out.srcPort = 0;
  out.dstPort = 0;
  out.tcpFlags = 0;
  return null;
}
