#!/usr/bin/env bash
# Quick start: installs what it needs, imports the capture that ships in the repo into a scratch
# store, and prints its top flows. (Becomes `endsight up` once the live agent exists.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
data_dir="${ENDSIGHT_DATA_DIR:-$PWD/.quickstart-data}"
rm -rf "$data_dir"
node bin/endsight.js import --data-dir "$data_dir" samples/sample.pcapng.gz
node bin/endsight.js flows --data-dir "$data_dir" --sort bytes --limit 15
