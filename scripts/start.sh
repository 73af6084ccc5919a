#!/usr/bin/env bash
# Quick start: installs what it needs, imports the capture that ships in the repo into a scratch
# store, and prints its top flows. (Becomes `endsight up` once the live agent exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# A scratch store of its own inside the checkout, emptied on every run (never a real store).
data_dir="$PWD/.quickstart-data"
rm -rf "$data_dir"
node bin/endsight.js import --data-dir "$data_dir" samples/sample.pcap.gz
node bin/endsight.js flows --data-dir "$data_dir" --sort bytes --limit 15
