/**
 * The small helper programs the traffic lab runs inside its namespaces, as Python 3 source text.
 * They are written to the lab's scratch directory at run time (so the compiled test needs no
 * files besides its own), and run with the Debian `python3` (standard library only).
 */

/**
 * A userspace 802.1Q tagger/untagger between two namespaces, for kernels without the 8021q driver.
 *
 * It runs in the middle namespace M, which holds four interfaces:
 *   `inner` (veth to the VLAN client C) · `trunkA` ⇄ `trunkB` (one veth pair, both ends in M) · `outer`
 *   (veth to the server B).
 * Frames read on `inner` are tagged and sent on `trunkA`; they appear on `trunkB`, are untagged and
 * sent on `outer`. The reverse way: `outer` → tag → `trunkB` → `trunkA` → untag → `inner`.
 * So every frame crosses the trunk veth tagged, in both directions, and tcpdump on `trunkA` sees
 * all of them tagged; C and B exchange plain Ethernet, so the real programs complete.
 *
 * Tagging: frames whose IPv4/IPv6 source or destination (or ARP sender/target) is one of the
 * `--qinq` addresses get an 802.1ad outer tag (TPID 0x88a8, VID 100) over an 802.1Q inner tag
 * (VID 20); all others get one 802.1Q tag (VID 10).
 *
 * The kernel moves the outer tag of a received frame into skb metadata before packet sockets see it,
 * so frames read on the trunk may arrive with or without it; the untagger strips whatever tags are
 * left. The trunk MTU must leave room for 8 bytes of tags.
 *
 * Prints `ready` on stdout once its sockets are bound; exits on SIGTERM/SIGINT and prints its counters.
 */
export const VLAN_FORWARDER_PY = String.raw`
import argparse, os, select, signal, socket, struct, sys

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
PACKET_IGNORE_OUTGOING = 23
SOL_PACKET = 263
TAG_TPIDS = (0x8100, 0x88a8, 0x9100)

p = argparse.ArgumentParser()
p.add_argument('--inner', required=True)
p.add_argument('--trunk-a', required=True)
p.add_argument('--trunk-b', required=True)
p.add_argument('--outer', required=True)
p.add_argument('--vlan', type=int, default=10)
p.add_argument('--qinq-outer', type=int, default=100)
p.add_argument('--qinq-inner', type=int, default=20)
p.add_argument('--qinq', action='append', default=[])
a = p.parse_args()

qinq = set()
for addr in a.qinq:
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    qinq.add(socket.inet_pton(fam, addr))

def open_sock(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    try:
        s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
    except OSError:
        pass
    s.bind((ifname, 0))
    s.setblocking(False)
    return s

socks = {name: open_sock(name) for name in (a.inner, a.trunk_a, a.trunk_b, a.outer)}

def is_qinq(frame):
    et = struct.unpack_from('!H', frame, 12)[0]
    if et == 0x0800 and len(frame) >= 34:
        return frame[26:30] in qinq or frame[30:34] in qinq
    if et == 0x86dd and len(frame) >= 54:
        return frame[22:38] in qinq or frame[38:54] in qinq
    if et == 0x0806 and len(frame) >= 42:
        return frame[28:32] in qinq or frame[38:42] in qinq
    return False

def tag(frame):
    if is_qinq(frame):
        tags = struct.pack('!HHHH', 0x88a8, a.qinq_outer, 0x8100, a.qinq_inner)
        counters['qinq'] += 1
    else:
        tags = struct.pack('!HH', 0x8100, a.vlan)
        counters['vlan'] += 1
    return frame[:12] + tags + frame[12:]

def untag(frame):
    while len(frame) >= 18 and struct.unpack_from('!H', frame, 12)[0] in TAG_TPIDS:
        frame = frame[:12] + frame[16:]
    return frame

# read interface -> (transform, write interface)
routes = {
    a.inner: (tag, a.trunk_a),
    a.trunk_b: (untag, a.outer),
    a.outer: (tag, a.trunk_b),
    a.trunk_a: (untag, a.inner),
}
counters = {'vlan': 0, 'qinq': 0, 'forwarded': 0, 'send_errors': 0}
running = True
def stop(signum, frame):
    global running
    running = False
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

by_fd = {s.fileno(): name for name, s in socks.items()}
poller = select.poll()
for fd in by_fd:
    poller.register(fd, select.POLLIN)
print('ready', flush=True)
while running:
    try:
        events = poller.poll(200)
    except InterruptedError:
        continue
    for fd, _ in events:
        name = by_fd[fd]
        s = socks[name]
        while True:
            try:
                frame, addr = s.recvfrom(65535)
            except BlockingIOError:
                break
            except InterruptedError:
                continue
            if addr[2] == PACKET_OUTGOING or len(frame) < 14:
                continue
            transform, out = routes[name]
            try:
                socks[out].send(transform(frame))
                counters['forwarded'] += 1
            except OSError as e:
                counters['send_errors'] += 1
                print('send error on %s: %s (%d bytes)' % (out, e, len(frame)), file=sys.stderr, flush=True)
print('counters vlan=%(vlan)d qinq=%(qinq)d forwarded=%(forwarded)d send_errors=%(send_errors)d' % counters, flush=True)
`;

/**
 * A tiny authoritative DNS responder (RFC 1035) on UDP and TCP port 53, any address, IPv4 and IPv6.
 * Answers A with `--a`, AAAA with `--aaaa`, and TXT for names starting with `big` with ~3,000 bytes
 * of TXT strings (so the UDP answer is IP-fragmented on a 1,500-byte MTU); anything else gets an
 * empty NOERROR answer. Prints `ready` once both sockets listen; exits on SIGTERM.
 */
export const DNS_RESPONDER_PY = String.raw`
import argparse, signal, socket, struct, sys, threading

p = argparse.ArgumentParser()
p.add_argument('--a', required=True)
p.add_argument('--aaaa', required=True)
p.add_argument('--port', type=int, default=53)
a = p.parse_args()

def answer(query):
    if len(query) < 12:
        return None
    qid, flags, qd = struct.unpack_from('!HHH', query, 0)
    if qd != 1:
        return None
    i = 12
    labels = []
    while i < len(query) and query[i] != 0:
        n = query[i]
        labels.append(query[i + 1:i + 1 + n].decode('ascii', 'replace'))
        i += 1 + n
    i += 1
    if i + 4 > len(query):
        return None
    qtype, qclass = struct.unpack_from('!HH', query, i)
    question = query[12:i + 4]
    rrs = []
    if qtype == 1:
        rrs.append(struct.pack('!HHHIH', 0xc00c, 1, 1, 60, 4) + socket.inet_pton(socket.AF_INET, a.a))
    elif qtype == 28:
        rrs.append(struct.pack('!HHHIH', 0xc00c, 28, 1, 60, 16) + socket.inet_pton(socket.AF_INET6, a.aaaa))
    elif qtype == 16 and labels and labels[0].startswith('big'):
        for k in range(12):
            text = (('endsight-%02d-' % k) * 30)[:250].encode()
            rdata = bytes([len(text)]) + text
            rrs.append(struct.pack('!HHHIH', 0xc00c, 16, 1, 60, len(rdata)) + rdata)
    rflags = 0x8400 | (flags & 0x0100)  # QR, AA, copy RD
    return struct.pack('!HHHHHH', qid, rflags, 1, len(rrs), 0, 0) + question + b''.join(rrs)

def serve_udp(sock):
    while True:
        data, peer = sock.recvfrom(4096)
        reply = answer(data)
        if reply is not None:
            sock.sendto(reply, peer)

def serve_tcp_conn(conn):
    with conn:
        while True:
            head = conn.recv(2)
            if len(head) < 2:
                return
            n = struct.unpack('!H', head)[0]
            data = b''
            while len(data) < n:
                chunk = conn.recv(n - len(data))
                if not chunk:
                    return
                data += chunk
            reply = answer(data)
            if reply is None:
                return
            conn.sendall(struct.pack('!H', len(reply)) + reply)

def serve_tcp(sock):
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn,), daemon=True).start()

udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
udp.bind(('::', a.port))
tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind(('::', a.port))
tcp.listen(16)
threading.Thread(target=serve_udp, args=(udp,), daemon=True).start()
threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
print('ready', flush=True)
signal.pause()
`;
