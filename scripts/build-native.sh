#!/usr/bin/env bash
# Builds endsight's one native program, native/build/endsight-capture (the agent's capture), when its
# source is newer than the binary. Needs a C compiler and libpcap's headers (scripts/install-deps.sh
# installs gcc and libpcap-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
src=native/endsight-capture.c
out=native/build/endsight-capture
[ -x "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ] && exit 0
if ! command -v cc >/dev/null || [ ! -f /usr/include/pcap/pcap.h ]; then
  echo "endsight: building $out needs a C compiler and libpcap's headers: apt-get install gcc libc6-dev libpcap-dev" >&2
  exit 1
fi
mkdir -p native/build
cc -std=c11 -O2 -Wall -Wextra -Wconversion -Wno-sign-conversion -D_FORTIFY_SOURCE=2 -fstack-protector-strong -o "$out.tmp" "$src" -lpcap
mv "$out.tmp" "$out"
