/**
 * decode: turns captured link-layer frames into the few fields the flow meter needs (addresses,
 * protocol, ports, TCP flags, IP length, fragment and VLAN facts), one reused `DecodedPacket` at a
 * time, with no allocation per packet. Malformed or non-IP frames are reported as issue codes
 * (`DecodeIssue`) to be counted, never thrown. Also the RFC 5952 text form of addresses.
 */
export { DecodedPacket } from './decoded-packet.js';
export { decodePacket } from './decode-packet.js';
export { DecodeIssue, DECODE_ISSUES, isDecodeIssue, type DecodeIssueCode } from './decode-issue.js';
export { IpProtocol } from './ip-protocol.js';
export { EtherType, MAX_VLAN_TAGS } from './link-layer.js';
export { MAX_IPV6_EXTENSION_HEADERS } from './ipv6.js';
export { formatAddress, parseAddress, type ParsedAddress } from './format-address.js';
