#!/usr/bin/env bash
# Measures `chronetix run` against the bars of issue 5, with real flows, release build:
#
#   start-up   sine 2x256 -> scale -> stats (200 000 frames, unpaced): first frame at the sink after the
#              command starts (first_frame_ns), and the exit after the last frame (wall time of the command
#              minus last_frame_ns: an upper bound, the wall clock starts before the process does)
#   rate-64    counter 64 B -> discard, 20 M frames: frames / (last_frame_ns - first_frame_ns)
#   rate-1mib  counter 1 MiB -> discard (8 MiB ring), 20 000 frames: bytes / the same interval; the source
#              writes every byte (a memset), the sink reads none of them
#   read-1mib  the same into file-writer /dev/null: the sink copies every byte out of the ring (memcpy into
#              its 64 KiB buffer) before the write to /dev/null
#   chain-64   counter 64 B -> merge (one input: a copying pass-through) -> discard, 20 M frames
#   memory     each worker's resident memory beyond its rings (RssAnon + RssFile, /proc/PID/status),
#              sampled half-way through the 1 MiB run and the sensor-chain example
#
#   scripts/bench-run.sh [runs]      each flow RUNS times (default 5); prints one line per run and the medians
#
# Needs python3. Builds chronetix and chronetix-worker in release into .build-bench.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${1:-5}"
swift build -c release --scratch-path .build-bench --product chronetix-worker >&2
swift build -c release --scratch-path .build-bench --product chronetix >&2
BIN=.build-bench/release/chronetix
FLOWS="$(mktemp -d /tmp/chronetix-bench-run.XXXXXX)"
trap 'rm -rf "$FLOWS"' EXIT

cat >"$FLOWS/startup.yaml" <<'YAML'
flow: bench-startup
version: 1
nodes:
  - { id: source, kind: sine, config: { channels: 2, samples: 256, frames: 200000 } }
  - { id: gain, kind: scale, config: { factor: 2.0 }, inputs: { in: source/samples } }
  - { id: sink, kind: stats, inputs: { in: gain/out } }
YAML
cat >"$FLOWS/rate-64.yaml" <<'YAML'
flow: bench-rate-64
version: 1
nodes:
  - { id: source, kind: counter, config: { size: 64, frames: 20000000 } }
  - { id: sink, kind: discard, inputs: { in: source/out } }
YAML
cat >"$FLOWS/rate-1mib.yaml" <<'YAML'
flow: bench-rate-1mib
version: 1
nodes:
  - { id: source, kind: counter, config: { size: 1MiB, frames: 20000 }, queue: { capacity: 8MiB } }
  - { id: sink, kind: discard, inputs: { in: source/out } }
YAML
cat >"$FLOWS/read-1mib.yaml" <<'YAML'
flow: bench-read-1mib
version: 1
nodes:
  - { id: source, kind: counter, config: { size: 1MiB, frames: 20000 }, queue: { capacity: 8MiB } }
  - { id: sink, kind: file-writer, config: { path: /dev/null }, inputs: { in: source/out } }
YAML
cat >"$FLOWS/chain-64.yaml" <<'YAML'
flow: bench-chain-64
version: 1
nodes:
  - { id: source, kind: counter, config: { size: 64, frames: 20000000 } }
  - { id: pass, kind: merge, inputs: { in: source/out } }
  - { id: sink, kind: discard, inputs: { in: pass/out } }
YAML

LINES="$FLOWS/lines.txt"
: >"$LINES"

# run NAME FLOW [SAMPLE_AFTER_SECONDS]: one run; a line "NAME key=value ..." into $LINES.
run() {
    local name="$1" flow="$2" sample="${3:-}" start end memory=""
    start=$(date +%s%N)
    if [ -n "$sample" ]; then
        "$BIN" run "$flow" --quiet --summary-json "$FLOWS/summary.json" >/dev/null &
        local coordinator=$!
        sleep "$sample"
        for pid in $(pgrep -f "chronetix-worker.*--bus $TMPDIR_RUN" || true); do
            memory="$memory $(awk '/^RssAnon|^RssFile|^RssShmem/ {printf "%s=%s,", $1, $2}' "/proc/$pid/status" 2>/dev/null)"
        done
        wait "$coordinator"
    else
        "$BIN" run "$flow" --quiet --summary-json "$FLOWS/summary.json" >/dev/null
    fi
    end=$(date +%s%N)
    python3 - "$name" "$FLOWS/summary.json" "$start" "$end" "$memory" >>"$LINES" <<'PY'
import json, sys
name, path, start, end, memory = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
d = json.load(open(path))
span = (d["last_frame_ns"] - d["first_frame_ns"]) / 1e9
sink = d["nodes"]["sink"]
edge = [e for k, e in d["edges"].items() if k.endswith("->sink/in")][0]
out = [name, f"status={d['status']}", f"frames={sink['frames_in']}",
       f"first_ms={d['first_frame_ns'] / 1e6:.1f}", f"exit_after_last_ms={(end - start - d['last_frame_ns']) / 1e6:.1f}",
       f"mframes_s={sink['frames_in'] / span / 1e6:.2f}", f"gb_s={edge['bytes'] / span / 1e9:.2f}"]
beyond = []
for worker in memory.split():
    fields = dict(item.split("=") for item in worker.strip(",").split(",") if item)
    beyond.append((int(fields.get("RssAnon:", 0)) + int(fields.get("RssFile:", 0))) / 1024)
if beyond:
    out.append("worker_rss_beyond_rings_mib=" + "/".join(f"{m:.1f}" for m in beyond))
print(" ".join(out))
PY
    tail -1 "$LINES"
}

# The workers' bus sockets live in $TMPDIR/chronetix-<run>/: enough to find the running flow's workers.
TMPDIR_RUN="${TMPDIR:-/tmp}/chronetix-"
for _ in $(seq "$RUNS"); do
    run startup "$FLOWS/startup.yaml"
    run rate-64 "$FLOWS/rate-64.yaml"
    run rate-1mib "$FLOWS/rate-1mib.yaml" 0.3
    run read-1mib "$FLOWS/read-1mib.yaml"
    run chain-64 "$FLOWS/chain-64.yaml"
done
run memory-sensor-chain examples/sensor-chain.yaml 1.5 >/dev/null
tail -1 "$LINES"

python3 - "$LINES" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, *pairs = line.split()
    rows.setdefault(name, []).append(dict(p.split("=", 1) for p in pairs))
def median(name, key):
    values = [float(r[key]) for r in rows.get(name, [])]
    return statistics.median(values) if values else float("nan")
print()
print(f"medians of {len(rows.get('startup', []))} runs:")
print(f"  first frame (3 nodes)        {median('startup', 'first_ms'):.1f} ms    (bar: <= 50 ms)")
print(f"  exit after the last frame    {median('startup', 'exit_after_last_ms'):.1f} ms    (bar: <= 100 ms)")
print(f"  2 nodes, 64 B                {median('rate-64', 'mframes_s'):.2f} M frames/s    (bar: >= 10)")
print(f"  2 nodes, 1 MiB               {median('rate-1mib', 'gb_s'):.2f} GB/s    (bar: >= 10)")
print(f"  2 nodes, 1 MiB, sink copies  {median('read-1mib', 'gb_s'):.2f} GB/s")
chain, two = median('chain-64', 'mframes_s'), median('rate-64', 'mframes_s')
print(f"  3-node chain, 64 B           {chain:.2f} M frames/s = {100 * (1 - chain / two):.0f} % below 2 nodes    (bar: < 25 %)")
PY
