/**
 * The application of a flow in SQL, for views that group by application: the protocol and the lower
 * of the two ports (`tcp/443`), which both ends and both directions of a connection agree on (a
 * process name does not); ports only for TCP, UDP and SCTP.
 */
/** The columns APPLICATION_SQL is made of: grouped by these, it may be selected (once per group, not per row). */
export const APPLICATION_GROUP_SQL = 'proto, least(src_port, dst_port)';

export const APPLICATION_SQL =
  "CASE proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 132 THEN 'sctp' WHEN 1 THEN 'icmp' WHEN 58 THEN 'icmpv6' ELSE 'ip' || proto END || " +
  "CASE WHEN proto IN (6, 17, 132) THEN '/' || least(src_port, dst_port) ELSE '' END";
