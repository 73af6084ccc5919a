/*
 * endsight-ospf-socket IFNAME [USER]: an OSPF socket for `endsight topo … --from if:NAME --adjacency`
 * (src/topo/ospf/ospf-socket.ts), because node cannot open raw IP sockets.
 *
 * Opens a raw socket of IP protocol 89 bound to IFNAME, joins AllSPFRouters (224.0.0.5) and
 * AllDRouters (224.0.0.6) there (RFC 2328 A.1), sends multicast with TTL 1 and no loopback, with
 * the precedence of internetwork control (RFC 2328 A.1: IP precedence 6), then gives up its
 * privileges (to USER when root) and relays:
 *   - every IP packet received on the socket to stdout, as [u16 length, big-endian][the IP packet];
 *   - every frame on stdin, [u16 length][IPv4 destination, 4 bytes][OSPF packet], to the socket.
 * It holds no protocol state: the adjacency is the caller's. Ends at EOF on stdin, SIGTERM or
 * SIGINT, or when the parent dies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "drop-privileges.h"
#include "stop-signals.h"

#define PROGRAM "endsight-ospf-socket"
#define OSPF_PROTOCOL 89
#define MAX_PACKET 65535

static int write_all(int fd, const uint8_t *data, size_t length) {
  while (length > 0) {
    ssize_t n = write(fd, data, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    data += n;
    length -= (size_t)n;
  }
  return 0;
}

static int join(int fd, const char *group, int ifindex) {
  struct ip_mreqn request;
  memset(&request, 0, sizeof request);
  inet_pton(AF_INET, group, &request.imr_multiaddr);
  request.imr_ifindex = ifindex;
  return setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request);
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || strlen(argv[1]) >= IFNAMSIZ) {
    fprintf(stderr, "usage: %s IFNAME [USER]\n", PROGRAM);
    return 2;
  }
  const char *ifname = argv[1];
  unsigned ifindex = if_nametoindex(ifname);
  if (ifindex == 0) {
    fprintf(stderr, "%s: %s: %s\n", PROGRAM, ifname, strerror(errno));
    return 1;
  }
  int fd = socket(AF_INET, SOCK_RAW, OSPF_PROTOCOL);
  if (fd < 0) {
    fprintf(stderr, "%s: cannot open a raw socket for OSPF: %s%s\n", PROGRAM, strerror(errno), errno == EPERM ? " (needs root or CAP_NET_RAW)" : "");
    return 1;
  }
  struct ip_mreqn outgoing;
  memset(&outgoing, 0, sizeof outgoing);
  outgoing.imr_ifindex = (int)ifindex;
  int ttl = 1, loop = 0, tos = IPTOS_PREC_INTERNETCONTROL;
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) != 0 ||
      join(fd, "224.0.0.5", (int)ifindex) != 0 || join(fd, "224.0.0.6", (int)ifindex) != 0 ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &outgoing, sizeof outgoing) != 0 ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) != 0 ||
      setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) != 0 ||
      setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof tos) != 0) {
    fprintf(stderr, "%s: cannot set up the OSPF socket on %s: %s\n", PROGRAM, ifname, strerror(errno));
    return 1;
  }
  if (drop_privileges(PROGRAM, argc == 3 ? argv[2] : NULL) != 0) return 1;
  handle_stop_signals();
  fprintf(stderr, "%s: ready on %s\n", PROGRAM, ifname);

  static uint8_t packet[2 + MAX_PACKET];
  static uint8_t input[2 + MAX_PACKET];
  size_t have = 0;
  struct pollfd fds[2] = {{.fd = fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
  while (!stopping) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "%s: poll: %s\n", PROGRAM, strerror(errno));
      return 1;
    }
    if (fds[0].revents & POLLIN) {
      ssize_t n = recv(fd, packet + 2, MAX_PACKET, 0);
      if (n > 0) {
        packet[0] = (uint8_t)(n >> 8);
        packet[1] = (uint8_t)n;
        if (write_all(STDOUT_FILENO, packet, (size_t)n + 2) != 0) return errno == EPIPE ? 0 : 1;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(STDIN_FILENO, input + have, sizeof input - have);
      if (n == 0) return 0;
      if (n < 0) {
        if (errno == EINTR) continue;
        return 1;
      }
      have += (size_t)n;
      for (;;) {
        if (have < 2) break;
        size_t length = ((size_t)input[0] << 8) | input[1];
        if (have < 2 + length) break;
        if (length > 4) {
          struct sockaddr_in to;
          memset(&to, 0, sizeof to);
          to.sin_family = AF_INET;
          memcpy(&to.sin_addr, input + 2, 4);
          if (sendto(fd, input + 6, length - 4, 0, (struct sockaddr *)&to, sizeof to) < 0) {
            fprintf(stderr, "%s: cannot send to %s: %s\n", PROGRAM, inet_ntoa(to.sin_addr), strerror(errno));
          }
        }
        memmove(input, input + 2 + length, have - 2 - length);
        have -= 2 + length;
      }
    }
  }
  return 0;
}
