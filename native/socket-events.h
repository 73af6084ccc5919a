/* One socket event, as the eBPF program (socket-events.bpf.c) writes it to its ring buffer. */
#ifndef ENDSIGHT_SOCKET_EVENTS_H
#define ENDSIGHT_SOCKET_EVENTS_H

#define COMM_BYTES 16

struct socket_event {
  __u8 kind;     /* 'S': seen sending or receiving; 'C': connect() */
  __u8 protocol; /* 6 or 17 */
  __u16 family;  /* 2 or 10 */
  __u16 local_port, remote_port;
  __u8 local_addr[16], remote_addr[16]; /* IPv4 in the first 4 bytes */
  __u32 pid, uid;
  __u64 cgroup_id;
  __u32 netns;
  __u32 pad;
  __u64 monotonic_ns;
  char comm[COMM_BYTES];
};

#endif
