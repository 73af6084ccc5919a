/**
 * SQL helpers every query can use, defined as DuckDB macros (pure SQL: nothing to install).
 *
 * - `ip_hex(addr)`: the address's bytes as lowercase hex (8 digits for IPv4, 32 for IPv6); accepts any
 *   RFC 4291 §2.2 text form, including `::` and an embedded IPv4 tail.
 * - `in_cidr(addr, prefix)`: true when addr lies in prefix (`10.0.0.0/8`, `2001:db8::/32`, or a bare
 *   address = a host prefix); false across families; a malformed prefix is an error naming it.
 * - `community_id(src, dst, sport, dport, proto)`: Community ID v1, seed 0 (must equal
 *   flow/community-id.ts, which the tests check). The `flows` view computes its column with
 *   `withCommunityId`, which is cheaper over many rows.
 */
export const SQL_MACROS: readonly string[] = [
  `CREATE MACRO ip4_hex(a) AS array_to_string(list_transform(string_split(a, '.'), x -> printf('%02x', TRY_CAST(x AS INTEGER))), '')`,
  // The IPv6 macros bind each intermediate value once, as the parameter of a lambda over a
  // one-element list: macros are inlined, and an argument used several times would be expanded
  // several times, which multiplies the expression (and its planning time) at every level.
  `CREATE MACRO ip6_part_hex(p) AS CASE WHEN p = '' THEN '' ELSE array_to_string(list_transform(string_split(p, ':'), g -> lpad(lower(g), 4, '0')), '') END`,
  // An embedded IPv4 tail (RFC 4291 §2.2 form 3) becomes two hex groups.
  `CREATE MACRO ip6_without_v4_tail(a) AS list_transform([regexp_extract(a, '[0-9.]+$')], t ->
     CASE WHEN t = '' OR NOT contains(t, '.') THEN a
          ELSE left(a, length(a) - length(t)) || list_transform([ip4_hex(t)], h -> substr(h, 1, 4) || ':' || substr(h, 5, 4))[1] END)[1]`,
  // '::' (RFC 4291 §2.2 form 2) stands for as many zero groups as make eight.
  `CREATE MACRO ip6_hex_expanded(a) AS list_transform([string_split(a, '::')], parts ->
     CASE WHEN len(parts) = 1 THEN ip6_part_hex(parts[1])
          ELSE list_transform([[ip6_part_hex(parts[1]), ip6_part_hex(parts[2])]], hp ->
                 hp[1] || repeat('0', 32 - length(hp[1]) - length(hp[2])) || hp[2])[1] END)[1]`,
  `CREATE MACRO ip_hex(a) AS CASE WHEN contains(a, ':') THEN ip6_hex_expanded(ip6_without_v4_tail(a)) ELSE ip4_hex(a) END`,
  `CREATE MACRO ip_bits(a) AS CAST(CAST(unhex(ip_hex(a)) AS BIT) AS VARCHAR)`,
  // IPv4 as a number, for prefix tests by shifting (far cheaper per row than building bit strings).
  `CREATE MACRO ip4_int(a) AS (TRY_CAST(split_part(a, '.', 1) AS UBIGINT) << 24) + (TRY_CAST(split_part(a, '.', 2) AS UBIGINT) << 16)
     + (TRY_CAST(split_part(a, '.', 3) AS UBIGINT) << 8) + TRY_CAST(split_part(a, '.', 4) AS UBIGINT)`,
  `CREATE MACRO cidr_length(c) AS CASE WHEN contains(c, '/') THEN TRY_CAST(split_part(c, '/', 2) AS INTEGER)
     WHEN contains(c, ':') THEN 128 ELSE 32 END`,
  // Prefixes of whole octets (/8, /16, /24, /32: most of them) compare text, about 5x cheaper per row
  // than the numeric test; stored addresses are canonical dotted quads (format-address.ts), and the
  // prefix's octets are made canonical here.
  // The first n octets of p, canonical ('010.1' → '10.1'); on a constant prefix, folded once.
  `CREATE MACRO ip4_octet_prefix(p, n) AS array_to_string(list_transform(string_split(p, '.')[1:n], x -> CAST(TRY_CAST(x AS INTEGER) AS VARCHAR)), '.')`,
  // LIKE with the folded constant pattern becomes DuckDB's prefix test, half the cost of starts_with;
  // the pattern holds only digits and dots. Text before a first '.' is never IPv6's, so an address
  // that matches a pattern of n ≥ 1 octets is an IPv4 address.
  `CREATE MACRO ip4_octet_prefix_match(a, p, n) AS CASE WHEN n = 0 THEN NOT contains(a, ':') WHEN n = 4 THEN a = ip4_octet_prefix(p, 4)
     ELSE a LIKE (ip4_octet_prefix(p, n) || '.%') END`,
  `CREATE MACRO in_cidr(a, c) AS CASE
     WHEN NOT regexp_full_match(c, '([0-9]{1,3}(\\.[0-9]{1,3}){3}|[0-9a-fA-F:.]*:[0-9a-fA-F:.]*)(/[0-9]{1,3})?')
       OR cidr_length(c) IS NULL OR cidr_length(c) > (CASE WHEN contains(c, ':') THEN 128 ELSE 32 END)
       THEN error('in_cidr: "' || c || '" is not a CIDR prefix such as 10.0.0.0/8 or 2001:db8::/32')
     WHEN contains(c, ':') THEN contains(a, ':') AND starts_with(ip_bits(a), left(ip_bits(split_part(c, '/', 1)), cidr_length(c)))
     WHEN cidr_length(c) % 8 = 0 THEN ip4_octet_prefix_match(a, split_part(c, '/', 1), cidr_length(c) // 8)
     ELSE NOT contains(a, ':') AND ip4_int(a) >> (32 - cidr_length(c)) = ip4_int(split_part(c, '/', 1)) >> (32 - cidr_length(c)) END`,
  // Community ID spec, "ICMP": types with a counterpart hash as two-way, the counterpart as port.
  `CREATE MACRO cid_icmp_counterpart(p, t) AS CASE WHEN p = 1 THEN
       CASE t WHEN 8 THEN 0 WHEN 0 THEN 8 WHEN 13 THEN 14 WHEN 14 THEN 13 WHEN 15 THEN 16 WHEN 16 THEN 15
              WHEN 10 THEN 9 WHEN 9 THEN 10 WHEN 17 THEN 18 WHEN 18 THEN 17 END
     WHEN p = 58 THEN
       CASE t WHEN 128 THEN 129 WHEN 129 THEN 128 WHEN 133 THEN 134 WHEN 134 THEN 133 WHEN 135 THEN 136
              WHEN 136 THEN 135 WHEN 130 THEN 131 WHEN 131 THEN 130 WHEN 144 THEN 145 WHEN 145 THEN 144
              WHEN 139 THEN 140 WHEN 140 THEN 139 END
     END`,
  `CREATE MACRO community_id(sa, da, sp, dp, p) AS (SELECT community_id FROM (${withCommunityId(
    'SELECT sa AS src_addr, da AS dst_addr, sp AS src_port, dp AS dst_port, p AS proto',
  )}))`,
];

/**
 * Wraps a relation that has src_addr, dst_addr, src_port, dst_port and proto columns, adding its
 * `community_id` column (Community ID v1, seed 0) and helper columns named `_cid_*`.
 *
 * Built in layers, each a subquery over the one before, so that each input is expanded once:
 * macros are inlined, and a single expression that repeats its arguments grows so large that
 * DuckDB took seconds just to plan it. Spec order: seed, the endpoint that sorts first (unless the
 * tuple is one-way), protocol, a zero pad byte, then ports where the protocol has them.
 * Protocol tests are written as ORs: DuckDB turns `IN (…)` lists into a join, which, unlike an
 * unused column, is not pruned from queries that never ask for the Community ID.
 */
export function withCommunityId(relationSql: string): string {
  const inputs =
    `SELECT *, ip_hex(src_addr) AS _cid_a, ip_hex(dst_addr) AS _cid_b, ` +
    `CASE WHEN (proto = 1 OR proto = 58) THEN dst_port // 256 WHEN (proto = 6 OR proto = 17 OR proto = 132) THEN src_port ELSE 0 END AS _cid_x, ` +
    `CASE WHEN (proto = 1 OR proto = 58) THEN coalesce(cid_icmp_counterpart(proto, dst_port // 256), dst_port % 256) ` +
    `WHEN (proto = 6 OR proto = 17 OR proto = 132) THEN dst_port ELSE 0 END AS _cid_y, ` +
    `(proto = 1 OR proto = 58) AND cid_icmp_counterpart(proto, dst_port // 256) IS NULL AS _cid_one_way ` +
    `FROM (${relationSql})`;
  const ordered =
    `SELECT *, (NOT _cid_one_way AND (_cid_a > _cid_b OR (_cid_a = _cid_b AND _cid_x > _cid_y))) AS _cid_swap FROM (${inputs})`;
  const hash =
    `'1:' || to_base64(unhex(sha1(unhex('0000' || ` +
    `CASE WHEN _cid_swap THEN _cid_b || _cid_a ELSE _cid_a || _cid_b END || printf('%02x', proto) || '00' || ` +
    `CASE WHEN NOT (proto = 1 OR proto = 6 OR proto = 17 OR proto = 58 OR proto = 132) THEN '' ` +
    `WHEN _cid_swap THEN printf('%04x%04x', _cid_y, _cid_x) ELSE printf('%04x%04x', _cid_x, _cid_y) END))))`;
  return `SELECT *, ${hash} AS community_id FROM (${ordered})`;
}
