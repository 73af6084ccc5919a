// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Socket ownership events (src/agent/attribution/socket-events.ts explains what each tracepoint
 * tells and why): compiled with clang -target bpf, loaded by endsight-socket-events.c.
 *
 * - sock:sock_send_length and sock:sock_recv_length (Linux 6.3+) run in the process that sends or
 *   receives: a TCP or UDP socket is reported when first seen, when another process uses it, and
 *   again at most every 10 s while in use, so the cost is per socket, not per message.
 * - sock:inet_sock_set_state to SYN_SENT is connect(), in the connecting process: its owner is kept
 *   by socket address and reported with the full 4-tuple at the socket's next state change, which
 *   may run in softirq context (so that context's process is never used).
 * Every event names the socket's network namespace.
 *
 * Field layouts come from the kernel's BTF at build time (vmlinux.h, CO-RE relocations).
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "socket-events.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define AF_INET 2
#define AF_INET6 10
#define TCP_SYN_SENT 2
#define REPORT_INTERVAL_NS (10ull * 1000 * 1000 * 1000)

/*
 * 1 MiB: about 11,000 events of 96 bytes waiting to be read (a burst of 1,000 connections is about
 * 4,000). The loader maps the ring's pages twice (so that a record never wraps), and they count
 * twice in its resident memory: 4 MiB here was 8 MB of the agent's.
 */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 20);
} events SEC(".maps");

/* Keyed by the ports and addresses too: a closed socket's memory is soon reused for a new one. */
struct seen_key {
  __u64 sk;
  __u64 addrpair;
  __u32 portpair;
  __u32 pad;
};

struct seen_value {
  __u32 pid;
  __u32 pad;
  __u64 reported_ns;
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 262144);
  __type(key, struct seen_key);
  __type(value, struct seen_value);
} seen SEC(".maps");

/* The process behind a connect(), until the socket's next state change. */
struct connector {
  __u32 pid;
  __u32 uid;
  __u64 cgroup_id;
  __u32 netns;
  char comm[COMM_BYTES];
};

struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, struct connector);
} connecting SEC(".maps");

/* The thread group leader's name, not the thread's: dig's sockets are used by threads named isc-net-0000. */
static __always_inline void leader_comm(char *out) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct task_struct *leader = BPF_CORE_READ(task, group_leader);
  bpf_probe_read_kernel_str(out, COMM_BYTES, &leader->comm);
}

static __always_inline __u32 netns_of(struct sock *sk) {
  return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

static __always_inline int socket_used(void *skp, __u16 protocol) {
  if (protocol != 6 && protocol != 17) return 0;
  struct sock *sk = skp;
  struct seen_key key = {};
  key.sk = (__u64)skp;
  key.addrpair = BPF_CORE_READ(sk, __sk_common.skc_addrpair);
  key.portpair = BPF_CORE_READ(sk, __sk_common.skc_portpair);
  __u32 pid = bpf_get_current_pid_tgid() >> 32;
  __u64 now = bpf_ktime_get_ns();
  struct seen_value *last = bpf_map_lookup_elem(&seen, &key);
  if (last && last->pid == pid && now - last->reported_ns < REPORT_INTERVAL_NS) return 0;
  struct seen_value value = {.pid = pid, .reported_ns = now};
  bpf_map_update_elem(&seen, &key, &value, BPF_ANY);

  struct socket_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) return 0;
  __builtin_memset(e, 0, sizeof(*e));
  e->kind = 'S';
  e->protocol = (__u8)protocol;
  e->family = BPF_CORE_READ(sk, __sk_common.skc_family);
  if (e->family == AF_INET) {
    BPF_CORE_READ_INTO(&e->local_addr, sk, __sk_common.skc_rcv_saddr);
    BPF_CORE_READ_INTO(&e->remote_addr, sk, __sk_common.skc_daddr);
  } else {
    BPF_CORE_READ_INTO(&e->local_addr, sk, __sk_common.skc_v6_rcv_saddr);
    BPF_CORE_READ_INTO(&e->remote_addr, sk, __sk_common.skc_v6_daddr);
  }
  e->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
  e->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
  e->pid = pid;
  e->uid = (__u32)bpf_get_current_uid_gid();
  e->cgroup_id = bpf_get_current_cgroup_id();
  e->netns = netns_of(sk);
  e->monotonic_ns = now;
  leader_comm(e->comm);
  bpf_ringbuf_submit(e, 0);
  return 0;
}

SEC("tp/sock/sock_send_length")
int sock_send_length(struct trace_event_raw_sock_msg_length *ctx) {
  return socket_used(ctx->sk, ctx->protocol);
}

SEC("tp/sock/sock_recv_length")
int sock_recv_length(struct trace_event_raw_sock_msg_length *ctx) {
  return socket_used(ctx->sk, ctx->protocol);
}

SEC("tp/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx) {
  __u64 sk = (__u64)ctx->skaddr;
  if (ctx->newstate == TCP_SYN_SENT) {
    struct connector c = {};
    c.pid = bpf_get_current_pid_tgid() >> 32;
    c.uid = (__u32)bpf_get_current_uid_gid();
    c.cgroup_id = bpf_get_current_cgroup_id();
    c.netns = netns_of((struct sock *)ctx->skaddr);
    leader_comm(c.comm);
    bpf_map_update_elem(&connecting, &sk, &c, BPF_ANY);
    return 0;
  }
  struct connector *c = bpf_map_lookup_elem(&connecting, &sk);
  if (!c) return 0;
  struct socket_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (e) {
    __builtin_memset(e, 0, sizeof(*e));
    e->kind = 'C';
    e->protocol = (__u8)ctx->protocol;
    e->family = ctx->family;
    /* Through the helper: the verifier refuses loads from a computed context pointer. */
    if (ctx->family == AF_INET) {
      bpf_probe_read_kernel(e->local_addr, 4, ctx->saddr);
      bpf_probe_read_kernel(e->remote_addr, 4, ctx->daddr);
    } else {
      bpf_probe_read_kernel(e->local_addr, 16, ctx->saddr_v6);
      bpf_probe_read_kernel(e->remote_addr, 16, ctx->daddr_v6);
    }
    e->local_port = ctx->sport; /* the tracepoint stores ports in host order */
    e->remote_port = ctx->dport;
    e->pid = c->pid;
    e->uid = c->uid;
    e->cgroup_id = c->cgroup_id;
    e->netns = c->netns;
    e->monotonic_ns = bpf_ktime_get_ns();
    __builtin_memcpy(e->comm, c->comm, COMM_BYTES);
    bpf_ringbuf_submit(e, 0);
  }
  bpf_map_delete_elem(&connecting, &sk);
  return 0;
}
