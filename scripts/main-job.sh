#!/usr/bin/env bash
# The main job: build chronetix and chronetix-worker (release) and run a real example flow end to end: one
# worker process per node, shared-memory rings between them, the summary at the end.
#   scripts/main-job.sh [FLOW_FILE]      (default examples/sensor-chain.yaml: sine -> scale -> stats, 3 s)
set -euo pipefail
cd "$(dirname "$0")/.."

flow="${1:-examples/sensor-chain.yaml}"
# The summary goes into a fresh directory, removed on exit: nothing is left in, or taken from, a fixed path
# in /tmp. The run stays in the repository's root, where the examples' relative paths (a process node's
# script, bytes-pipeline's archive, which .gitignore lists) are meant to be found.
work="$(mktemp -d "${TMPDIR:-/tmp}/chronetix-main-job.XXXXXX")"
trap 'rm -rf "$work"' EXIT
summary="$work/summary.json"
scripts/setup.sh
swift build -c release --product chronetix
swift build -c release --product chronetix-worker
bin="$(swift build -c release --show-bin-path)/chronetix"

echo "== chronetix validate $flow"
"$bin" validate "$flow"
echo
echo "== chronetix run $flow --summary-json $summary"
"$bin" run "$flow" --summary-json "$summary"
echo
echo "== the summary (first 30 lines)"
head -n 30 "$summary"
