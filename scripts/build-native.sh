#!/usr/bin/env bash
# Builds endsight's native programs into native/build/, each when its sources are newer than it:
#   endsight-capture        the agent's capture (libpcap; gcc, libpcap-dev)
#   endsight-ospf-socket    an OSPF raw socket for `topo --adjacency` (gcc)
#   endsight-socket-events  the agent's eBPF socket events (libbpf; clang, bpftool, libbpf-dev, libelf-dev),
#                           its eBPF program compiled against this kernel's BTF (/sys/kernel/btf/vmlinux)
#   endsight-privileged     what the agent keeps root for once the meter runs unprivileged (gcc)
# scripts/install-deps.sh installs the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p native/build
out=native/build

need() { # need PROGRAM-OR-FILE PACKAGES
  if [ ! -e "$1" ] && ! command -v "$1" >/dev/null; then
    echo "endsight: building native/ needs $1: apt-get install $2" >&2
    exit 1
  fi
}
newer() { # newer TARGET SOURCES...: true when TARGET is missing or older than a source or this script
  local target=$1
  shift
  [ -e "$target" ] || return 0
  for src in "$@" "$0"; do [ "$src" -nt "$target" ] && return 0; done
  return 1
}
CFLAGS=(-std=gnu11 -O2 -Wall -Wextra -Wconversion -Wno-sign-conversion -D_FORTIFY_SOURCE=2 -fstack-protector-strong)

if newer $out/endsight-capture native/endsight-capture.c native/drop-privileges.h native/stop-signals.h; then
  need cc gcc
  need /usr/include/pcap/pcap.h libpcap-dev
  cc "${CFLAGS[@]}" -Inative -o $out/endsight-capture.tmp native/endsight-capture.c -lpcap
  mv $out/endsight-capture.tmp $out/endsight-capture
fi

if newer $out/endsight-ospf-socket native/endsight-ospf-socket.c native/drop-privileges.h native/stop-signals.h; then
  need cc gcc
  cc "${CFLAGS[@]}" -Inative -o $out/endsight-ospf-socket.tmp native/endsight-ospf-socket.c
  mv $out/endsight-ospf-socket.tmp $out/endsight-ospf-socket
fi

if newer $out/endsight-socket-events native/endsight-socket-events.c native/socket-events.bpf.c native/socket-events.h native/drop-privileges.h native/stop-signals.h; then
  need clang clang
  need bpftool bpftool
  need /usr/include/bpf/libbpf.h libbpf-dev
  need /usr/include/libelf.h libelf-dev
  need /sys/kernel/btf/vmlinux "a kernel with BTF (CONFIG_DEBUG_INFO_BTF)"
  bpftool btf dump file /sys/kernel/btf/vmlinux format c > $out/vmlinux.h
  arch=$(uname -m | sed -e s/x86_64/x86/ -e s/aarch64/arm64/)
  clang -O2 -g -target bpf -D__TARGET_ARCH_$arch -I$out -Inative -c native/socket-events.bpf.c -o $out/socket-events.bpf.o
  bpftool gen skeleton $out/socket-events.bpf.o name socket_events_bpf > $out/socket-events.skel.h
  cc "${CFLAGS[@]}" -I$out -Inative -o $out/endsight-socket-events.tmp native/endsight-socket-events.c -lbpf -lelf -lz
  mv $out/endsight-socket-events.tmp $out/endsight-socket-events
fi

if newer $out/endsight-privileged native/endsight-privileged.c; then
  need cc gcc
  cc "${CFLAGS[@]}" -Inative -o $out/endsight-privileged.tmp native/endsight-privileged.c
  mv $out/endsight-privileged.tmp $out/endsight-privileged
fi
