#!/usr/bin/env bash
# The whole test suite: installs what it needs (Debian peers, npm packages), builds, runs every test.
# Network tests create their own namespaces and need root.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist # no compiled test may outlive its source
bash scripts/install-deps.sh --with-test-peers
mapfile -t tests < <(find dist -name '*.test.js' | sort)
if [ "${#tests[@]}" -eq 0 ]; then echo "no test files found under dist/" >&2; exit 1; fi
exec node --test --test-reporter=spec "${tests[@]}"
