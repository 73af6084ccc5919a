/**
 * Hard limits that keep the readers safe on hostile input: no length read from a file is used to
 * allocate or to read ahead before it has been checked against one of these.
 */

/**
 * Largest captured length accepted for one packet: libpcap's MAXIMUM_SNAPLEN, the largest snapshot
 * length capture tools write (draft-ietf-opsawg-pcap §5: CapLen never exceeds SnapLen). Anything larger
 * is a corrupt length field.
 */
export const MAX_CAPLEN = 262144;

/**
 * Largest original (wire) length still considered plausible when hunting for the next pcap record
 * after corruption: MAX_CAPLEN plus slack for GSO/GRO super-packets, which Linux reports with wire
 * lengths above 64 KiB.
 */
export const MAX_PLAUSIBLE_WIRELEN = 4 * MAX_CAPLEN;

/** Largest wire length a batch can store (its `wirelen` column is an Int32Array). */
export const MAX_STORABLE_WIRELEN = 0x7fffffff;

/**
 * Largest pcapng block accepted. The pcapng draft (§3.1) puts no bound on Block Total Length; 16 MiB is
 * far above any real block (a MAX_CAPLEN packet plus options) and bounds the memory a lying length can
 * make the reader buffer.
 */
export const MAX_PCAPNG_BLOCK = 16 * 1024 * 1024;

/** After a corrupt pcap record, how far the reader scans for the next plausible record before giving up. */
export const MAX_PCAP_RESYNC_SCAN = 16 * 1024 * 1024;

/** Seconds a record's timestamp may differ from the previous good record's and still look plausible. */
export const RESYNC_TIMESTAMP_WINDOW_S = 86400;
