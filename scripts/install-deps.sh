#!/usr/bin/env bash
# Installs what endsight and its tests need, idempotently: Debian packages (only the missing ones),
# then the npm dependencies (only when package-lock.json changed since the last install), then builds.
# Usage: scripts/install-deps.sh [--with-test-peers]   (the peers: the tests' and the benchmark's reference tools)
set -euo pipefail
cd "$(dirname "$0")/.."

# The agent's native programs (native/, scripts/build-native.sh): gcc, libc6-dev and libpcap-dev build
# the capture program, libpcap0.8 runs it; clang, bpftool, libbpf-dev, libelf-dev and zlib1g-dev build
# the socket events program and its eBPF code, libbpf1 runs it. tcpdump: live OSPF listening (topo --from if:NAME).
runtime_packages=(zstd gcc libc6-dev libpcap-dev libpcap0.8 clang bpftool libbpf-dev libelf-dev zlib1g-dev libbpf1 conntrack tcpdump)
test_packages=(chromium softflowd nfdump nethogs frr iperf3 iproute2 ethtool curl python3 dnsutils iputils-ping procps time netcat-openbsd util-linux passwd openvpn nftables nats-server openssl)
wanted=("${runtime_packages[@]}")
[ "${1:-}" = "--with-test-peers" ] && wanted+=("${test_packages[@]}")

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "endsight: missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "endsight: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=node_modules/.endsight-lock-stamp
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npm run --silent build
