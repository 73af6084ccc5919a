#!/usr/bin/env bash
# Regenerates samples/sample.pcap.gz: real traffic between two network namespaces made here (HTTP over
# IPv4 and IPv6, iperf3 TCP and UDP, ping with fragments, DNS), captured with tcpdump. Needs root and
# tcpdump, iperf3, curl, python3, dnsutils. Nothing leaves the namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
tag="es-sample-$$"
a="$tag-a"; b="$tag-b"; work="$(mktemp -d)"
x="esx$$"; y="esy$$" # interface names: at most 15 characters
cleanup() {
  for ns in "$a" "$b"; do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
ip netns add "$a"; ip netns add "$b"
ip link add "$x" netns "$a" type veth peer name "$y" netns "$b"
ip -n "$a" link set lo up; ip -n "$b" link set lo up
ip -n "$a" addr add 10.77.0.1/24 dev "$x"; ip -n "$b" addr add 10.77.0.2/24 dev "$y"
ip -n "$a" addr add fd77::1/64 dev "$x" nodad; ip -n "$b" addr add fd77::2/64 dev "$y" nodad
ip -n "$a" link set "$x" up; ip -n "$b" link set "$y" up

ip netns exec "$b" tcpdump -i "$y" -s 0 -U -w "$work/sample.pcap" 2>/dev/null & tcpdump_pid=$!
sleep 1
mkdir -p "$work/www"; head -c 200000 /dev/zero | tr '\0' 'x' > "$work/www/page.html"
(cd "$work/www" && exec ip netns exec "$b" python3 -m http.server 8080 --bind :: >/dev/null 2>&1) &
cat > "$work/dns.py" <<'PY'
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(('::', 53))
while True:
    q, peer = s.recvfrom(512)
    # Answer every A query with 10.77.0.2 (RFC 1035 §4.1): copy the question, one answer record.
    s.sendto(q[:2] + b'\x81\x80' + q[4:6] + b'\x00\x01\x00\x00\x00\x00' + q[12:] + b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04' + bytes([10, 77, 0, 2]), peer)
PY
ip netns exec "$b" python3 "$work/dns.py" & 
ip netns exec "$b" iperf3 -s -p 5201 >/dev/null 2>&1 &
sleep 1
for i in 1 2 3; do
  ip netns exec "$a" curl -s -o /dev/null http://10.77.0.2:8080/page.html
  ip netns exec "$a" curl -s -o /dev/null "http://[fd77::2]:8080/page.html"
  ip netns exec "$a" dig +short +tries=1 +time=1 @10.77.0.2 "host$i.example" >/dev/null || true
  ip netns exec "$a" dig +short +tries=1 +time=1 @fd77::2 "www$i.example" >/dev/null || true
done
ip netns exec "$a" ping -q -c 3 -i 0.2 -s 3000 10.77.0.2 >/dev/null
ip netns exec "$a" ping -6 -q -c 3 -i 0.2 -s 3000 fd77::2 >/dev/null
ip netns exec "$a" iperf3 -c 10.77.0.2 -p 5201 -n 64K >/dev/null
ip netns exec "$a" iperf3 -c fd77::2 -p 5201 -u -t 1 -b 200K -l 500 >/dev/null
sleep 2
kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
gzip -9 -n -c "$work/sample.pcap" > samples/sample.pcap.gz
echo "wrote samples/sample.pcap.gz ($(stat -c %s samples/sample.pcap.gz) bytes, $(tcpdump -r "$work/sample.pcap" 2>/dev/null | wc -l) packets)"
