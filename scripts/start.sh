#!/usr/bin/env bash
# Quick start: installs what it needs, then runs `endsight up`: the agent monitoring this machine on
# the embedded defaults (every interface, the store in /var/lib/endsight, health on 127.0.0.1:9469),
# in the foreground until Ctrl-C, which stores every active flow before it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
exec node bin/endsight.js up "$@"
