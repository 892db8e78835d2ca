#!/usr/bin/env bash
# The main job: build chronetix and chronetix-worker (release) and run a real example flow end to end: one
# worker process per node, shared-memory rings between them, the summary at the end.
#   scripts/main-job.sh [FLOW_FILE]      (default examples/sensor-chain.yaml: sine -> scale -> stats, 3 s)
set -euo pipefail
cd "$(dirname "$0")/.."

flow="${1:-examples/sensor-chain.yaml}"
scripts/setup.sh
swift build -c release --product chronetix
swift build -c release --product chronetix-worker
bin="$(swift build -c release --show-bin-path)/chronetix"

echo "== chronetix validate $flow"
"$bin" validate "$flow"
echo
echo "== chronetix run $flow --summary-json /tmp/chronetix-summary.json"
"$bin" run "$flow" --summary-json /tmp/chronetix-summary.json
echo
echo "== /tmp/chronetix-summary.json (first 30 lines)"
head -n 30 /tmp/chronetix-summary.json
