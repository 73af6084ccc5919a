/*
 * endsight-socket-events: loads the agent's eBPF program (socket-events.bpf.c) with libbpf, attaches
 * it to its three socket tracepoints and prints one line per event on standard output, for
 * src/agent/attribution/socket-events.ts:
 *
 *   READY                                  (once the probes are attached)
 *   S|C proto family local_addr local_port remote_addr remote_port pid uid cgroup_id netns monotonic_ns comm
 *
 * Why not bpftrace, which ran the same program before: bpftrace keeps LLVM in memory for its whole
 * life (about 110 MB of the agent's 300 MB), and compiles the program at every start.
 *
 * Privileges: loading needs CAP_BPF, CAP_PERFMON (and CAP_SYS_ADMIN for tracepoints on some kernels),
 * or root. Run as root with -Z USER it switches to USER once the program is attached: reading the
 * ring buffer needs no privilege. Exit codes: 3 when the kernel refused for lack of privileges, 1 otherwise.
 * SIGTERM or SIGINT: exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "socket-events.skel.h"
#include "drop-privileges.h"
#include "stop-signals.h"
#include "socket-events.h"


/* libbpf's own messages: warnings and errors only, on standard error. */
static int print_libbpf(enum libbpf_print_level level, const char *format, va_list args) {
  if (level == LIBBPF_DEBUG || level == LIBBPF_INFO) return 0;
  return vfprintf(stderr, format, args);
}

static const char *address(const struct socket_event *e, const __u8 *bytes, char *out, size_t size) {
  return inet_ntop(e->family == 2 ? AF_INET : AF_INET6, bytes, out, (socklen_t)size);
}

static int on_event(void *context, void *data, size_t size) {
  (void)context;
  if (size < sizeof(struct socket_event)) return 0;
  const struct socket_event *e = data;
  char local[INET6_ADDRSTRLEN], remote[INET6_ADDRSTRLEN], comm[COMM_BYTES + 1];
  memcpy(comm, e->comm, COMM_BYTES);
  comm[COMM_BYTES] = 0;
  for (char *c = comm; *c; c++)
    if (*c == '\n') *c = ' ';
  if (!address(e, e->local_addr, local, sizeof local) || !address(e, e->remote_addr, remote, sizeof remote)) return 0;
  printf("%c %u %u %s %u %s %u %u %u %llu %u %llu %s\n", e->kind, e->protocol, e->family, local, e->local_port, remote, e->remote_port,
         e->pid, e->uid, (unsigned long long)e->cgroup_id, e->netns, (unsigned long long)e->monotonic_ns, comm);
  return 0;
}

int main(int argc, char **argv) {
  const char *user = NULL;
  int opt;
  while ((opt = getopt(argc, argv, "Z:h")) != -1) {
    if (opt == 'Z') {
      user = optarg;
    } else {
      fprintf(stderr, "usage: endsight-socket-events [-Z USER]\n  prints socket ownership events, one line each\n");
      return 2;
    }
  }
  libbpf_set_print(print_libbpf);
  struct socket_events_bpf *skel = socket_events_bpf__open_and_load();
  if (skel == NULL) {
    int error = errno;
    fprintf(stderr, "endsight-socket-events: the kernel did not load the eBPF program: %s\n", strerror(error));
    return error == EPERM || error == EACCES ? 3 : 1;
  }
  if (socket_events_bpf__attach(skel) != 0) {
    int error = errno;
    fprintf(stderr, "endsight-socket-events: cannot attach to the socket tracepoints (is tracefs mounted at /sys/kernel/tracing?): %s\n",
            strerror(error));
    socket_events_bpf__destroy(skel);
    return error == EPERM || error == EACCES ? 3 : 1;
  }
  struct ring_buffer *ring = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
  if (ring == NULL) {
    fprintf(stderr, "endsight-socket-events: cannot read the ring buffer: %s\n", strerror(errno));
    socket_events_bpf__destroy(skel);
    return 1;
  }
  if (drop_privileges("endsight-socket-events", user) != 0) return 1;

  handle_stop_signals();
  printf("READY\n");
  fflush(stdout);
  while (!stopping) {
    /* No timeout: nothing to do until an event comes, and SIGTERM interrupts the wait (EINTR). */
    int n = ring_buffer__poll(ring, -1);
    if (n < 0 && n != -EINTR) {
      fprintf(stderr, "endsight-socket-events: reading the ring buffer failed: %s\n", strerror(-n));
      break;
    }
    if (n > 0 && fflush(stdout) != 0) break; /* the agent is gone */
  }
  ring_buffer__free(ring);
  socket_events_bpf__destroy(skel);
  return 0;
}
