#!/usr/bin/env bash
# The main job: build chronetix and put a real example flow through it. Until flows can run (the
# coordinator and workers are not built yet), that means checking, compiling and drawing the flow.
#   scripts/main-job.sh [FLOW_FILE]      (default examples/sensor-chain.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."

flow="${1:-examples/sensor-chain.yaml}"
scripts/setup.sh
swift build --product chronetix
bin="$(swift build --show-bin-path)/chronetix"

echo "== chronetix validate $flow"
"$bin" validate "$flow"
echo
echo "== chronetix graph --format mermaid $flow"
"$bin" graph --format mermaid "$flow"
echo
echo "== chronetix compile $flow (first 40 lines of $("$bin" compile "$flow" | wc -l))"
"$bin" compile "$flow" | head -n 40
