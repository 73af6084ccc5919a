/*
 * endsight-capture: the agent's packet capture. It reads libpcap's `any` device (every interface,
 * including ones that appear later; Linux cooked v2 headers carry each packet's interface index)
 * and writes batches of flow entries to standard output, about once a second (every 2 s when they are small).
 *
 * Why a program of its own: the agent's benchmark (issue 3) showed that handing every packet to
 * JavaScript, even in large batches through tcpdump's pcap output, costs 3 to 6 times softflowd's
 * CPU. Here each packet costs one header parse and one hash lookup; packets of one flow within a
 * batch become one entry, so the agent's meter sees a few entries per flow and second instead of
 * every packet. What this program cannot key cheaply (fragments, IPv6 extension headers, ICMP,
 * anything not TCP or UDP, any header that looks wrong) is passed on whole, and the agent's own
 * decoder meters it, with its reasons for every skipped packet. The meter's rules stay in one
 * place (src/flow/): this program only adds packets of one 5-tuple together.
 *
 * An entry holds packets that the agent's meter would have counted in one flow one by one:
 *  - TCP packets with SYN, FIN or RST (the meter opens and closes flows on them) are entries of
 *    their own, and close the batch's entry for their 5-tuple;
 *  - an entry spans at most MAX_SPAN_US (the agent's timeouts are seconds or more; the gap and span
 *    limits keep the meter's idle and active timeouts exact to within that).
 *
 * Privileges: opening the device needs CAP_NET_RAW. Run as root with -Z USER, it switches to USER
 * right after opening (like tcpdump -Z); run with the capability only, it clears its capabilities.
 * It is single-threaded, so this leaves no thread privileged.
 *
 * Output (little-endian), repeated: a 56-byte batch header, then the batch's records.
 *   header: u32 magic "ESCB", u32 body bytes, u32 sampling N, u32 flags (1: last batch; 2: the host's
 *           addresses changed since the last batch, as netlink said: a batch comes then even without packets),
 *           f64 packets seen, f64 packets sampled out (both for this batch),
 *           f64 libpcap received, f64 libpcap dropped (since the start), f64 own CPU µs (since the start)
 *   flow record (80 bytes): u32 kind 1, u32 packets, u32 key[10] (the meter's FlowKey words:
 *           source address 4 words, destination 4 words, ports, protocol | version << 8 | ifindex << 12),
 *           u32 TCP flags (OR), u32 0, f64 first µs, f64 last µs, f64 IP bytes
 *   raw record: u32 kind 2, u32 caplen, u32 wire length, u32 0, f64 time µs, caplen bytes padded to 8
 * Control on standard input, one line each: "sampling N" (meter one packet in N from the next batch on).
 * SIGTERM or SIGINT: read what the kernel holds, write the last batch, exit 0.
 *
 * With -r FILE it reads a capture file instead (tests and the fuzz test: the same path, without root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "drop-privileges.h"
#include "stop-signals.h"

#define MAGIC 0x42435345u /* "ESCB" */
#define HEADER_BYTES 56
#define FLOW_RECORD_BYTES 80
#define RAW_HEADER_BYTES 24
#define KIND_FLOW 1
#define KIND_RAW 2
#define LAST_BATCH 1
#define NET_CHANGED 2

#define LINKTYPE_LINUX_SLL2 276
#define SLL2_HEADER_BYTES 20
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define PROTO_TCP 6
#define PROTO_UDP 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04

/* Open entries per batch: a hash table of this many buckets (a power of two), at most half full. */
#define BUCKETS 8192
#define MAX_OPEN (BUCKETS / 2)
#define MAX_SPAN_US 1000000.0
/*
 * A batch is written when it is full or a second old. 1 MiB holds 13,000 flow entries; more in a
 * second (a storm of new flows) means more writes, not lost entries. The buffer's pages stay
 * resident once touched, so a larger one would cost its size in memory after the first storm.
 */
#define DEFAULT_BATCH_BYTES (1u << 20)
/*
 * A batch this small (about 200 flow entries) after its second waits for a second more: a lightly
 * loaded host then wakes the agent every 2 s instead of every second (each wakeup of a Node.js
 * process costs about half a millisecond of CPU, as much as metering 5,000 packets here). The agent's
 * delivery slack (5 s) covers the ring's 1 s block timeout and these 2 s.
 */
#define QUIET_BATCH_BYTES (16u << 10)

typedef struct {
  uint8_t *buf;            /* header + body */
  size_t cap, used;        /* bytes of buf; used includes the header */
  size_t max_record;       /* largest record one packet can produce */
  uint32_t sampling, countdown;
  uint32_t next_sampling;  /* asked for on standard input: applies from the next batch (one N per batch) */
  double seen, sampled_out;
  uint32_t bucket_gen[BUCKETS];
  uint32_t bucket_at[BUCKETS]; /* offset of the entry in buf */
  uint32_t gen, open;
  int net_changed;         /* netlink told of an address added or removed: say so in the next batch */
} batch_t;


static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); } /* x86-64 and arm64: little-endian */
static void put64f(uint8_t *p, double v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static double get64f(const uint8_t *p) { double v; memcpy(&v, p, 8); return v; }

/*
 * The 5-tuple of a packet the agent's decoder would meter without a question: IPv4 (RFC 791) not a
 * fragment, or IPv6 (RFC 8200) with TCP or UDP right after the fixed header; lengths consistent.
 * Everything else returns 0 and goes to the agent whole. Mirrors src/decode/ (ipv4.ts, ipv6.ts,
 * transport.ts) for the packets it accepts; the agent's tests compare the two on the same capture.
 */
static int flow_key(const uint8_t *d, uint32_t caplen, uint32_t wirelen, uint32_t key[10], uint32_t *ip_bytes, uint32_t *tcp_flags) {
  if (caplen > wirelen || caplen < SLL2_HEADER_BYTES) return 0;
  uint32_t ifindex = be32(d + 4);
  if (ifindex >= (1u << 20)) return 0;
  uint16_t ethertype = be16(d);
  const uint8_t *ip = d + SLL2_HEADER_BYTES;
  uint32_t cap = caplen - SLL2_HEADER_BYTES, wire = wirelen - SLL2_HEADER_BYTES;
  uint32_t header, total, proto, version;
  memset(key, 0, 40);
  if (ethertype == ETHERTYPE_IPV4) {
    if (cap < 20 || ip[0] >> 4 != 4) return 0;
    header = (uint32_t)(ip[0] & 0x0f) << 2;
    total = be16(ip + 2);
    if (header < 20 || cap < header || total < header || total > wire) return 0; /* total 0 (TSO) too */
    if ((be16(ip + 6) & 0x3fff) != 0) return 0;                                   /* MF or an offset */
    proto = ip[9];
    key[0] = be32(ip + 12);
    key[4] = be32(ip + 16);
    version = 4;
  } else if (ethertype == ETHERTYPE_IPV6) {
    if (cap < 40 || ip[0] >> 4 != 6) return 0;
    uint32_t payload = be16(ip + 4);
    header = 40;
    total = 40 + payload;
    if (payload == 0 || total > wire) return 0; /* 0: a jumbogram or TSO */
    proto = ip[6];
    for (int w = 0; w < 4; w++) {
      key[w] = be32(ip + 8 + 4 * w);
      key[4 + w] = be32(ip + 24 + 4 * w);
    }
    version = 6;
  } else {
    return 0;
  }
  uint32_t end = total < cap ? total : cap; /* bytes past the IP length are link padding */
  const uint8_t *l4 = ip + header;
  if (proto == PROTO_TCP) {
    if (end - header < 14) return 0;
    *tcp_flags = l4[13];
  } else if (proto == PROTO_UDP) {
    if (end - header < 4) return 0;
    *tcp_flags = 0;
  } else {
    return 0;
  }
  key[8] = (uint32_t)be16(l4) << 16 | be16(l4 + 2);
  key[9] = proto | version << 8 | ifindex << 12;
  *ip_bytes = total;
  return 1;
}

static uint32_t hash_key(const uint32_t key[10]) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 10; i++) h = (h ^ key[i]) * 0xff51afd7ed558ccdull;
  return (uint32_t)(h >> 32);
}

static void batch_reset(batch_t *b) {
  if (b->next_sampling != 0) {
    b->sampling = b->next_sampling;
    if (b->countdown > b->sampling) b->countdown = b->sampling;
    b->next_sampling = 0;
  }
  b->used = HEADER_BYTES;
  b->seen = b->sampled_out = 0;
  b->open = 0;
  if (++b->gen == 0) {
    memset(b->bucket_gen, 0, sizeof b->bucket_gen);
    b->gen = 1;
  }
}

static void write_flow(batch_t *b, const uint32_t key[10], uint32_t flags, double ts, uint32_t ip_bytes) {
  uint8_t *r = b->buf + b->used;
  put32(r, KIND_FLOW);
  put32(r + 4, 1);
  memcpy(r + 8, key, 40);
  put32(r + 48, flags);
  put32(r + 52, 0);
  put64f(r + 56, ts);
  put64f(r + 64, ts);
  put64f(r + 72, ip_bytes);
  b->used += FLOW_RECORD_BYTES;
}

static void write_raw(batch_t *b, double ts, const uint8_t *data, uint32_t caplen, uint32_t wirelen) {
  uint8_t *r = b->buf + b->used;
  put32(r, KIND_RAW);
  put32(r + 4, caplen);
  put32(r + 8, wirelen);
  put32(r + 12, 0);
  put64f(r + 16, ts);
  memcpy(r + RAW_HEADER_BYTES, data, caplen);
  size_t padded = ((size_t)caplen + 7) & ~(size_t)7;
  memset(r + RAW_HEADER_BYTES + caplen, 0, padded - caplen);
  b->used += RAW_HEADER_BYTES + padded;
}

/* One packet into the batch. The caller guarantees room for b->max_record bytes. */
static void add_packet(batch_t *b, double ts, const uint8_t *data, uint32_t caplen, uint32_t wirelen) {
  b->seen++;
  /* Systematic count-based sampling (RFC 5475 §6.1), before any decoding. */
  if (b->sampling > 1 && --b->countdown > 0) {
    b->sampled_out++;
    return;
  }
  b->countdown = b->sampling;
  uint32_t key[10], ip_bytes, flags;
  if (!flow_key(data, caplen, wirelen, key, &ip_bytes, &flags)) {
    write_raw(b, ts, data, caplen, wirelen);
    return;
  }
  uint32_t bucket = hash_key(key) & (BUCKETS - 1);
  for (;;) {
    if (b->bucket_gen[bucket] != b->gen) break; /* empty: no open entry for this key */
    uint8_t *e = b->buf + b->bucket_at[bucket];
    if (memcmp(e + 8, key, 40) == 0) {
      if ((flags & (TCP_SYN | TCP_FIN | TCP_RST)) == 0 && ts >= get64f(e + 64) && ts - get64f(e + 56) < MAX_SPAN_US) {
        put32(e + 4, get32(e + 4) + 1);
        put32(e + 48, get32(e + 48) | flags);
        put64f(e + 64, ts);
        put64f(e + 72, get64f(e + 72) + ip_bytes);
        return;
      }
      /* Close it: the packet starts the key's next entry (its bucket is reused below). */
      write_flow(b, key, flags, ts, ip_bytes);
      if (flags & (TCP_SYN | TCP_FIN | TCP_RST)) b->bucket_gen[bucket] = b->gen - 1; /* stays alone */
      else b->bucket_at[bucket] = (uint32_t)(b->used - FLOW_RECORD_BYTES);
      return;
    }
    bucket = (bucket + 1) & (BUCKETS - 1);
  }
  write_flow(b, key, flags, ts, ip_bytes);
  /* Flagged packets stay single; the table takes no more entries once half full (later ones stay single). */
  if ((flags & (TCP_SYN | TCP_FIN | TCP_RST)) == 0 && b->open < MAX_OPEN) {
    b->bucket_gen[bucket] = b->gen;
    b->bucket_at[bucket] = (uint32_t)(b->used - FLOW_RECORD_BYTES);
    b->open++;
  }
}

/*
 * A closed entry's bucket is marked with an older generation, which also ends the probe chain
 * there; keys that probed past it are then not found and start a new entry. That costs at most an
 * extra entry, never a wrong sum.
 */

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes) {
  batch_t *b = (batch_t *)user;
  add_packet(b, (double)h->ts.tv_sec * 1e6 + (double)h->ts.tv_usec, bytes, h->caplen, h->len);
}

static double now_ms(void) {
  struct timeval t;
  gettimeofday(&t, NULL);
  return (double)t.tv_sec * 1e3 + (double)t.tv_usec / 1e3;
}

static double cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

/*
 * Standard output may be non-blocking: run by the privileged helper, standard input and output are
 * one socket, and the control input is made non-blocking (a file status flag, shared by both).
 */
/*
 * Address changes from the kernel (RTM_NEWADDR, RTM_DELADDR; no privilege needed), so that the agent
 * re-reads the host's addresses when they change instead of every second. -1 when unavailable
 * (the agent then re-reads them now and then anyway).
 */
static int open_address_events(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Reads what netlink has; any message (or a lost one: ENOBUFS) means the addresses may have changed. */
static int drain_address_events(int fd) {
  char buf[8192];
  int changed = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0 || (n < 0 && errno == ENOBUFS)) {
      changed = 1;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return changed;
  }
}

static int write_all(const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(STDOUT_FILENO, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd out = {STDOUT_FILENO, POLLOUT, 0};
        if (poll(&out, 1, -1) < 0 && errno != EINTR) return -1;
        if (out.revents & (POLLERR | POLLHUP | POLLNVAL)) return -1;
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Writes the batch (also an empty last one) and starts the next. Returns -1 when the reader is gone. */
static int flush_batch(batch_t *b, pcap_t *p, int live, uint32_t flags) {
  if (b->net_changed) flags |= NET_CHANGED;
  b->net_changed = 0;
  if (b->used == HEADER_BYTES && b->seen == 0 && !(flags & (LAST_BATCH | NET_CHANGED))) {
    batch_reset(b); /* nothing to say; a new sampling rate takes effect */
    return 0;
  }
  struct pcap_stat st = {0};
  if (live) pcap_stats(p, &st);
  uint8_t *h = b->buf;
  put32(h, MAGIC);
  put32(h + 4, (uint32_t)(b->used - HEADER_BYTES));
  put32(h + 8, b->sampling);
  put32(h + 12, flags);
  put64f(h + 16, b->seen);
  put64f(h + 24, b->sampled_out);
  put64f(h + 32, st.ps_recv);
  put64f(h + 40, st.ps_drop);
  put64f(h + 48, cpu_us());
  int rc = write_all(b->buf, b->used);
  batch_reset(b);
  return rc;
}

/* Reads "sampling N" lines from the agent. Returns 0 at the end of the input, else 1. */
static int read_control(batch_t *b, char *line, size_t *len, size_t cap) {
  char chunk[256];
  ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return 0;
  for (ssize_t i = 0; i < n; i++) {
    if (chunk[i] != '\n') {
      if (*len + 1 < cap) line[(*len)++] = chunk[i];
      continue;
    }
    line[*len] = 0;
    unsigned long v;
    if (sscanf(line, "sampling %lu", &v) == 1 && v >= 1 && v < (1u << 20)) {
      b->next_sampling = (uint32_t)v;
    } else {
      fprintf(stderr, "endsight-capture: ignored control line: %s\n", line);
    }
    *len = 0;
  }
  return 1;
}

static void usage(void) {
  fprintf(stderr,
          "usage: endsight-capture [-s SNAPLEN] [-B BUFFER_KIB] [-t BATCH_MS] [-n SAMPLING] [-Z USER] [-r FILE] [FILTER]\n"
          "  reads libpcap's `any` device (or FILE) and writes flow-entry batches to standard output\n");
}

int main(int argc, char **argv) {
  int snaplen = 128, buffer_kib = 32768, batch_ms = 1000, sampling = 1;
  const char *user = NULL, *file = NULL;
  int opt;
  while ((opt = getopt(argc, argv, "s:B:t:n:Z:r:h")) != -1) {
    switch (opt) {
      case 's': snaplen = atoi(optarg); break;
      case 'B': buffer_kib = atoi(optarg); break;
      case 't': batch_ms = atoi(optarg); break;
      case 'n': sampling = atoi(optarg); break;
      case 'Z': user = optarg; break;
      case 'r': file = optarg; break;
      default: usage(); return 2;
    }
  }
  if (snaplen < 64 || snaplen > 262144 || buffer_kib < 64 || batch_ms < 10 || sampling < 1 || sampling >= (1 << 20)) {
    fprintf(stderr, "endsight-capture: snaplen must be 64..262144, buffer at least 64 KiB, batch interval at least 10 ms, sampling 1..1048575\n");
    return 2;
  }
  const char *filter = optind < argc ? argv[optind] : NULL;

  char errbuf[PCAP_ERRBUF_SIZE] = "";
  pcap_t *p;
  int live = file == NULL;
  if (live) {
    p = pcap_create("any", errbuf);
    if (p == NULL) {
      fprintf(stderr, "endsight-capture: %s\n", errbuf);
      return 1;
    }
    pcap_set_snaplen(p, snaplen);
    pcap_set_buffer_size(p, buffer_kib * 1024);
    pcap_set_timeout(p, batch_ms < 1000 ? batch_ms : 1000); /* the ring's block timeout */
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO);
    int rc = pcap_activate(p);
    if (rc < 0) {
      fprintf(stderr, "endsight-capture: %s: %s\n", pcap_statustostr(rc), pcap_geterr(p));
      return rc == PCAP_ERROR_PERM_DENIED ? 3 : 1;
    }
    if (pcap_set_datalink(p, LINKTYPE_LINUX_SLL2) != 0) {
      fprintf(stderr, "endsight-capture: cannot use Linux cooked v2 headers: %s\n", pcap_geterr(p));
      return 1;
    }
    if (drop_privileges("endsight-capture", user) != 0) return 1;
  } else {
    if (drop_privileges("endsight-capture", NULL) != 0) return 1;
    p = pcap_open_offline(file, errbuf);
    if (p == NULL) {
      fprintf(stderr, "endsight-capture: %s\n", errbuf);
      return 1;
    }
    if (pcap_datalink(p) != LINKTYPE_LINUX_SLL2) {
      fprintf(stderr, "endsight-capture: %s: only Linux cooked v2 captures (link type 276) are read\n", file);
      return 1;
    }
    snaplen = pcap_snapshot(p);
  }
  if (filter != NULL && filter[0] != 0) {
    struct bpf_program prog;
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0 || pcap_setfilter(p, &prog) != 0) {
      fprintf(stderr, "endsight-capture: the filter is not valid BPF (pcap-filter(7)): %s\n", pcap_geterr(p));
      return 4;
    }
    pcap_freecode(&prog);
  }

  batch_t *b = calloc(1, sizeof *b);
  if (b == NULL) return 1;
  b->max_record = RAW_HEADER_BYTES + (((size_t)(snaplen > 262144 ? 262144 : snaplen) + 7) & ~(size_t)7);
  if (b->max_record < FLOW_RECORD_BYTES) b->max_record = FLOW_RECORD_BYTES;
  b->cap = DEFAULT_BATCH_BYTES > 64 * b->max_record ? DEFAULT_BATCH_BYTES : 64 * b->max_record;
  b->buf = malloc(b->cap);
  if (b->buf == NULL) return 1;
  b->sampling = b->countdown = (uint32_t)sampling;
  batch_reset(b);

  handle_stop_signals();

  if (!live) {
    for (;;) {
      int room = (int)((b->cap - b->used) / b->max_record);
      int n = pcap_dispatch(p, room, on_packet, (u_char *)b);
      if (n < 0) {
        fprintf(stderr, "endsight-capture: %s\n", pcap_geterr(p));
        flush_batch(b, p, 0, LAST_BATCH);
        return 1;
      }
      if (n == 0) break;
      if ((b->cap - b->used) / b->max_record < 1 && flush_batch(b, p, 0, 0) != 0) return 1;
    }
    return flush_batch(b, p, 0, LAST_BATCH) != 0;
  }

  if (pcap_setnonblock(p, 1, errbuf) != 0) {
    fprintf(stderr, "endsight-capture: %s\n", errbuf);
    return 1;
  }
  fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
  fprintf(stderr, "endsight-capture: listening on any, link type LINUX_SLL2, snapshot length %d bytes\n", snaplen);

  /* The ring, standard output (its reader gone, POLLERR, ends the program even when idle), address events, the agent's control lines. */
  struct pollfd fds[4] = {{pcap_get_selectable_fd(p), POLLIN, 0}, {STDOUT_FILENO, 0, 0}, {open_address_events(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  char line[128];
  size_t line_len = 0;
  double next_flush = now_ms() + batch_ms, batch_started = now_ms();
  int stdin_open = 1;
  while (!stopping) {
    double now = now_ms();
    /*
     * An empty batch is never written, so with nothing in it there is no flush to wake for: wait for
     * the ring (or the agent) alone, and start the batch's second at its first packet. An idle
     * capture then costs no wakeup at all.
     */
    int empty = b->used == HEADER_BYTES && b->seen == 0;
    int timeout = empty ? -1 : next_flush > now ? (int)(next_flush - now) + 1 : 0;
    int ready = poll(fds, stdin_open ? 4 : 3, timeout);
    if (empty) {
      batch_started = now_ms();
      next_flush = batch_started + batch_ms;
    }
    if (ready < 0 && errno != EINTR) break;
    if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) return 0; /* the agent is gone */
    if (stdin_open && (fds[3].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
      stdin_open = (fds[3].revents & POLLNVAL) == 0 && read_control(b, line, &line_len, sizeof line);
    }
    if (fds[2].fd >= 0 && (fds[2].revents & POLLIN) && drain_address_events(fds[2].fd)) {
      b->net_changed = 1;
      next_flush = 0; /* tell the agent now */
    }
    /* libpcap hands over the ring's blocks as the kernel retires them (full, or after the timeout). */
    for (;;) {
      int room = (int)((b->cap - b->used) / b->max_record);
      if (room < 1) {
        if (flush_batch(b, p, 1, 0) != 0) return 0; /* the agent is gone */
        continue;
      }
      int n = pcap_dispatch(p, room, on_packet, (u_char *)b);
      if (n < 0) {
        fprintf(stderr, "endsight-capture: %s\n", pcap_geterr(p));
        flush_batch(b, p, 1, LAST_BATCH);
        return 1;
      }
      if (n < room) break;
    }
    now = now_ms();
    if (now >= next_flush && !b->net_changed && b->used - HEADER_BYTES < QUIET_BATCH_BYTES && now < batch_started + 2 * batch_ms) {
      next_flush = batch_started + 2 * batch_ms;
    }
    if (now >= next_flush) {
      if (flush_batch(b, p, 1, 0) != 0) return 0;
      next_flush = now + batch_ms;
      batch_started = now;
    }
  }
  /* Stopping: the ring's current block is handed over only after its timeout; wait for it once. */
  usleep((useconds_t)(batch_ms < 1000 ? batch_ms : 1000) * 1000 + 100000);
  for (;;) {
    int room = (int)((b->cap - b->used) / b->max_record);
    if (room < 1) {
      if (flush_batch(b, p, 1, 0) != 0) return 0;
      continue;
    }
    int n = pcap_dispatch(p, room, on_packet, (u_char *)b);
    if (n < room) break;
  }
  flush_batch(b, p, 1, LAST_BATCH);
  pcap_close(p);
  return 0;
}
