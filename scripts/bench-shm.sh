#!/usr/bin/env bash
# Measures the shared-memory ring against the C reference ring (shared/peers/limits), back to back.
#
#   scripts/bench-shm.sh [rounds]   REPS rounds (default 3), each the C reference (run.sh --only shm,
#                                   REPEAT=1) then every `chronetix bench shm` run below, so both see the same
#                                   machine minutes; medians of the rounds. Writes to OUT (default docs/bench):
#                                     shm-DATE.json, limits-DATE.json   every raw report and result
#                                     shm-vs-limits-DATE.md             the medians, Swift vs C, with ratios
#   scripts/bench-shm.sh paired     PAIRS times (default 5), for each size and each like-for-like pair of
#                                   modes: the C reference, then the Swift bench, 0.5 s each; the median of
#                                   the per-pair ratios cancels most of a noisy host's slow and fast phases.
#                                   Writes shm-paired-DATE.json and shm-paired-DATE.md.
#
#   scripts/bench-shm.sh header32   PAIRS times: the C reference, the same C built with a 32-byte frame header
#                                   (the size of the ring's), and the Swift bench, 8 and 64 B frames, spin,
#                                   publishing every frame and every 32; shows what the header size costs.
#                                   Writes shm-header32-DATE.txt and shm-header32-DATE.md.
#
#   REPS=1 DURATION=0.3 OUT=/tmp/x scripts/bench-shm.sh   a smoke run
#
# Needs python3 for the summaries and gcc for the C reference; builds chronetix in release into .build-bench.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS="${REPS:-3}"
DURATION="${DURATION:-1}"
OUT="${OUT:-docs/bench}"
DATE="${DATE:-$(date -u +%Y-%m-%d)}"
LIMITS="${LIMITS:-$(cd .. && pwd)/shared/peers/limits}"
[ -x "$LIMITS/run.sh" ] || { echo "bench-shm: the C reference (shared/peers/limits/run.sh) is missing" >&2; exit 1; }

WHAT="${1:-rounds}"
case "$WHAT" in rounds | paired | header32) ;; *) echo "usage: scripts/bench-shm.sh [rounds|paired|header32]" >&2; exit 64 ;; esac
swift build -c release --scratch-path .build-bench --product chronetix >&2
BIN=.build-bench/release/chronetix
RAW="$(mktemp -d /tmp/chronetix-bench-shm.XXXXXX)"
trap 'rm -rf "$RAW"' EXIT
mkdir -p "$OUT"

# name|arguments of each chronetix bench shm run in a round (the sizes default to 8 B .. 4 MiB)
RUNS=(
    "copy-adaptive|--mode copy --wait adaptive"
    "copy-spin|--mode copy --wait spin"
    "zero-copy-adaptive|--mode zero-copy --wait adaptive"
    "zero-copy-spin|--mode zero-copy --wait spin"
    "copy-spin-batch32|--mode copy --wait spin --batch 32 --sizes 8,64,512"
    "zero-copy-spin-batch32|--mode zero-copy --wait spin --batch 32 --sizes 8,64,512"
    "latency-adaptive|--latency --mode copy --wait adaptive --sizes 8,64,512,4K,64K"
    "latency-spin|--latency --mode copy --wait spin --sizes 8,64,512,4K,64K"
    "latency-sleep|--latency --mode copy --wait sleep --sizes 8,64,512,4K,64K"
    "idle-adaptive|--mode copy --wait adaptive --sizes 64 --duration 0.2 --idle 1"
    "idle-sleep|--mode copy --wait sleep --sizes 64 --duration 0.2 --idle 1"
    "idle-spin|--mode copy --wait spin --sizes 64 --duration 0.2 --idle 1"
)

if [ "$WHAT" = paired ]; then
    PAIRS="${PAIRS:-5}"
    # Builds the reference binaries (and checks them) with a tiny run; they land in $LIMITS_WORK/build.
    REPEAT=1 DURATION=0.05 "$LIMITS/run.sh" --only shm >/dev/null
    CREF="${LIMITS_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/chronetix-limits}/build/shm_ring"
    # name|C command line (after shm_ring)|C environment|Swift arguments|sizes
    PAIRINGS=(
        "copy-spin|-m spin -t tput||--mode copy --wait spin|8 64 512 4096 65536 1048576 4194304"
        "copy-adaptive|-m spinfutex -t tput||--mode copy --wait adaptive|8 64 512 4096 65536 1048576 4194304"
        "zero-copy-spin|-m spin -t tput -c inplace||--mode zero-copy --wait spin|4096 65536 1048576 4194304"
        "copy-spin-batch32|-m spin -t tput|PUBLISH_BATCH=32|--mode copy --wait spin --batch 32|8 64 512"
        "latency-adaptive|-m spinfutex -t lat||--latency --mode copy --wait adaptive|8 64 512 4096 65536"
    )
    : >"$RAW/paired.txt"
    for pair in $(seq "$PAIRS"); do
        for pairing in "${PAIRINGS[@]}"; do
            IFS='|' read -r name cargs cenv sargs sizes <<<"$pairing"
            for size in $sizes; do
                # shellcheck disable=SC2086 # the arguments are split on purpose
                cline="$(env $cenv REPEAT=1 DURATION=0.5 "$CREF" $cargs -s "$size" | grep '^RESULT')"
                # shellcheck disable=SC2086
                "$BIN" bench shm $sargs --sizes "$size" --duration 0.5 --json "$RAW/s.json" >/dev/null
                echo "PAIR pair=$pair name=$name size=$size $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("swift_fps=%s swift_p50=%s swift_p99=%s" % (r["frames_per_second"], r.get("latency_ns", {}).get("p50", ""), r.get("latency_ns", {}).get("p99", "")))' "$RAW/s.json") ${cline#RESULT }" >>"$RAW/paired.txt"
            done
        done
        echo "bench-shm: pair round $pair of $PAIRS done" >&2
    done
    python3 - "$RAW/paired.txt" "$OUT" "$DATE" "$PAIRS" <<'PY'
import collections, json, statistics, sys
path, out, date, pairs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = []
for line in open(path):
    kv = dict(field.split("=", 1) for field in line.split()[1:] if "=" in field)
    rows.append(kv)
json.dump({"date": date, "pairs": pairs, "seconds_per_run": 0.5, "rows": rows}, open(f"{out}/shm-paired-{date}.json", "w"), indent=1)
groups = collections.defaultdict(list)
for r in rows:
    groups[(r["name"], int(r["size"]))].append(r)
label = lambda s: f"{s >> 20} MiB" if s >= 1 << 20 else f"{s >> 10} KiB" if s >= 1024 else f"{s} B"
rate = lambda v: f"{v/1e6:.2f}M" if v >= 1e6 else f"{v/1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"
lines = [f"# chronetix bench shm vs the C reference, paired runs, {date}", "",
         f"{pairs} pairs per cell: the C reference then the Swift bench, 0.5 s each, one size at a time.", "",
         "| pairing | size | Swift median | C median | median of pair ratios (Swift / C) | min–max ratio |",
         "|---|---:|---:|---:|---:|---:|"]
for (name, size), rs in groups.items():
    if name.startswith("latency"):
        sw = [float(r["swift_p50"]) / 1000 for r in rs]
        c = [float(r["ow_p50_us"]) for r in rs]
        ratios = [a / b for a, b in zip(sw, c) if b > 0]
        lines.append(f"| {name} (p50 µs) | {label(size)} | {statistics.median(sw):.3f} | {statistics.median(c):.3f} | "
                     f"{statistics.median(ratios):.2f} | {min(ratios):.2f}–{max(ratios):.2f} |")
    else:
        sw = [float(r["swift_fps"]) for r in rs]
        c = [float(r["fps"]) for r in rs]
        ratios = [a / b for a, b in zip(sw, c) if b > 0]
        lines.append(f"| {name} | {label(size)} | {rate(statistics.median(sw))} | {rate(statistics.median(c))} | "
                     f"{statistics.median(ratios):.2f} | {min(ratios):.2f}–{max(ratios):.2f} |")
open(f"{out}/shm-paired-{date}.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
    exit 0
fi

if [ "$WHAT" = header32 ]; then
    PAIRS="${PAIRS:-7}"
    sed 's/#define FR_HDR 8/#define FR_HDR 32/' "$LIMITS/shm_ring.c" >"$RAW/shm_ring32.c"
    gcc -O2 -I "$LIMITS" -o "$RAW/shm_ring8" "$LIMITS/shm_ring.c" -lrt
    gcc -O2 -I "$LIMITS" -o "$RAW/shm_ring32" "$RAW/shm_ring32.c" -lrt
    fps() { sed -n 's/.* fps=\([0-9]*\).*/\1/p'; }
    : >"$RAW/header32.txt"
    for pair in $(seq "$PAIRS"); do
        for size in 8 64; do
            for batch in 1 32; do
                c8="$(PUBLISH_BATCH=$batch DURATION=0.5 "$RAW/shm_ring8" -m spin -t tput -s $size | fps)"
                c32="$(PUBLISH_BATCH=$batch DURATION=0.5 "$RAW/shm_ring32" -m spin -t tput -s $size | fps)"
                "$BIN" bench shm --sizes $size --duration 0.5 --wait spin --batch $batch --json "$RAW/s.json" >/dev/null
                sw="$(python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["results"][0]["frames_per_second"]))' "$RAW/s.json")"
                echo "RESULT pair=$pair size=$size batch=$batch c_hdr8_fps=$c8 c_hdr32_fps=$c32 swift_fps=$sw" >>"$RAW/header32.txt"
            done
        done
        echo "bench-shm: header32 round $pair of $PAIRS done" >&2
    done
    cp "$RAW/header32.txt" "$OUT/shm-header32-$DATE.txt"
    python3 - "$RAW/header32.txt" "$OUT" "$DATE" "$PAIRS" <<'PY'
import collections, statistics, sys
path, out, date, pairs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
groups = collections.defaultdict(list)
for line in open(path):
    kv = dict(field.split("=", 1) for field in line.split()[1:])
    groups[(int(kv["size"]), int(kv["batch"]))].append(kv)
lines = [f"# Frame header size: C reference (8 B), C reference with a 32 B header, Swift ring (32 B), {date}", "",
         f"{pairs} rounds, 0.5 s per run, spin waiting, copy. Median frames/s; ratios are medians of per-round ratios.", "",
         "| size | publish every | C, 8 B header | C, 32 B header | Swift | Swift / C 32 B | Swift / C 8 B |",
         "|---:|---:|---:|---:|---:|---:|---:|"]
for (size, batch), rs in sorted(groups.items()):
    c8 = [float(r["c_hdr8_fps"]) for r in rs]
    c32 = [float(r["c_hdr32_fps"]) for r in rs]
    sw = [float(r["swift_fps"]) for r in rs]
    r32 = statistics.median([a / b for a, b in zip(sw, c32)])
    r8 = statistics.median([a / b for a, b in zip(sw, c8)])
    lines.append(f"| {size} B | {batch} | {statistics.median(c8)/1e6:.1f}M | {statistics.median(c32)/1e6:.1f}M | "
                 f"{statistics.median(sw)/1e6:.1f}M | {r32:.2f} | {r8:.2f} |")
open(f"{out}/shm-header32-{date}.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
    exit 0
fi

cpu() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9, $5+$6, $9}' /proc/stat; }
for round in $(seq "$REPS"); do
    before="$(cpu)"
    echo "bench-shm: round $round of $REPS: C reference (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    REPEAT=1 DURATION="$DURATION" "$LIMITS/run.sh" --only shm --json "$RAW/limits-$round.json" >"$RAW/limits-$round.txt"
    for run in "${RUNS[@]}"; do
        name="${run%%|*}"
        # shellcheck disable=SC2086 # the arguments are split on purpose
        set -- ${run#*|}
        case " $* " in *" --duration "*) ;; *) set -- "$@" --duration "$DURATION" ;; esac
        echo "bench-shm: round $round: chronetix bench shm $*" >&2
        "$BIN" bench shm "$@" --json "$RAW/shm-$round-$name.json" | tee "$RAW/shm-$round-$name.txt" >&2
    done
    echo "$before $(cpu)" | awk '{t=$4-$1; if (t<=0) t=1; printf "bench-shm: round done: idle %.0f%%, steal %.0f%%\n", 100*($5-$2)/t, 100*($6-$3)/t}' >&2
done

python3 - "$RAW" "$OUT" "$DATE" "$REPS" "$DURATION" <<'PY'
import json, os, statistics, sys
raw, out, date, reps, duration = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
names = sorted({f.split("-", 2)[2][:-5] for f in os.listdir(raw) if f.startswith("shm-") and f.endswith(".json")})
swift = {"date": date, "rounds": reps, "seconds_per_size": float(duration), "runs": []}
limits = {"date": date, "rounds": reps, "seconds_per_size": float(duration), "runs": []}
for r in range(1, reps + 1):
    for name in names:
        path = f"{raw}/shm-{r}-{name}.json"
        if os.path.exists(path):
            swift["runs"].append({"round": r, "run": name, "report": json.load(open(path))})
    limits["runs"].append({"round": r, "results": json.load(open(f"{raw}/limits-{r}.json"))})
json.dump(swift, open(f"{out}/shm-{date}.json", "w"), indent=1)
json.dump(limits, open(f"{out}/limits-{date}.json", "w"), indent=1)

def med(values):
    return statistics.median(values) if values else None
def sw(run, size, key="frames_per_second"):
    vals = []
    for entry in swift["runs"]:
        if entry["run"] != run: continue
        for result in entry["report"]["results"]:
            if result["size"] == size:
                vals.append(result["latency_ns"][key] if key in ("p50", "p99", "p999") else result[key])
    return med(vals)
def c(mode, test, size, key):
    vals = [x[key] for run in limits["runs"] for x in run["results"]
            if x.get("mode") == mode and x.get("test") == test and x.get("size") == size]
    return med(vals)
def rate(v):
    if v is None: return "–"
    return f"{v/1e6:.2f}M" if v >= 1e6 else f"{v/1e3:.1f}k" if v >= 1e3 else f"{v:.0f}"
def ratio(a, b):
    return "–" if a is None or b is None or b == 0 else f"{a/b:.2f}"

sizes = [8, 64, 512, 4096, 65536, 1 << 20, 4 << 20]
label = lambda s: f"{s >> 20} MiB" if s >= 1 << 20 else f"{s >> 10} KiB" if s >= 1024 else f"{s} B"
lines = [f"# chronetix bench shm vs the C reference, {date}", "",
         f"Medians of {reps} alternating rounds, {duration} s per size. Frames/s; GB/s = 1e9 B/s of payload.", ""]
lines += ["## Throughput, like for like (frames/s, Swift / C)", "",
          "| size | copy spin | C spin | ratio | copy adaptive | C spinfutex | ratio | zero-copy spin | C spin+inplace | ratio | copy spin batch32 | C spin+batch32 | ratio |",
          "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
best = {}
for s in sizes:
    a, b = sw("copy-spin", s), c("spin", "tput", s, "fps")
    d, e = sw("copy-adaptive", s), c("spinfutex", "tput", s, "fps")
    f, g = sw("zero-copy-spin", s), c("spin+inplace", "tput", s, "fps")
    h, i = sw("copy-spin-batch32", s), c("spin+batch32", "tput", s, "fps")
    lines.append(f"| {label(s)} | {rate(a)} | {rate(b)} | {ratio(a, b)} | {rate(d)} | {rate(e)} | {ratio(d, e)} | "
                 f"{rate(f)} | {rate(g)} | {ratio(f, g)} | {rate(h)} | {rate(i)} | {ratio(h, i)} |")
    swift_modes = {"copy spin": a, "copy adaptive": d, "zero-copy spin": f, "zero-copy adaptive": sw("zero-copy-adaptive", s),
                   "copy spin batch32": h, "zero-copy spin batch32": sw("zero-copy-spin-batch32", s)}
    c_modes = {"spin": b, "spinfutex": e, "spin+inplace": g, "spin+batch32": i}
    best[s] = (max(((v, k) for k, v in swift_modes.items() if v is not None), default=(None, "–")),
               max(((v, k) for k, v in c_modes.items() if v is not None), default=(None, "–")))
lines += ["", "## Throughput, best mode of each (frames/s and GB/s)", "",
          "| size | Swift best | mode | GB/s | C best | mode | GB/s | ratio |", "|---:|---:|---|---:|---:|---|---:|---:|"]
for s in sizes:
    (a, am), (b, bm) = best[s]
    lines.append(f"| {label(s)} | {rate(a)} | {am} | {a * s / 1e9 if a else 0:.2f} | {rate(b)} | {bm} | "
                 f"{b * s / 1e9 if b else 0:.2f} | {ratio(a, b)} |")
lines += ["", "## Zero-copy, adaptive waiting (GB/s)", "", "| size | Swift zero-copy adaptive | C spin+inplace |", "|---:|---:|---:|"]
for s in sizes:
    a, g = sw("zero-copy-adaptive", s), c("spin+inplace", "tput", s, "fps")
    lines.append(f"| {label(s)} | {a * s / 1e9 if a else 0:.2f} | {f'{g * s / 1e9:.2f}' if g else '–'} |")
lines += ["", "## One-way latency, round trip / 2 (µs, p50 / p99; Swift p99.9 too)", "",
          "| size | Swift adaptive | C spinfutex | Swift spin | C spin | Swift sleep | C futex |", "|---:|---|---|---|---|---|---|"]
us = lambda v: "–" if v is None else f"{v / 1000:.3f}" if v < 10000 else f"{v / 1000:.1f}"
cus = lambda v: "–" if v is None else f"{v:.3f}" if v < 10 else f"{v:.1f}"
for s in [8, 64, 512, 4096, 65536]:
    row = [label(s)]
    for run, mode in (("latency-adaptive", "spinfutex"), ("latency-spin", "spin"), ("latency-sleep", "futex")):
        row.append(f"{us(sw(run, s, 'p50'))} / {us(sw(run, s, 'p99'))} / {us(sw(run, s, 'p999'))}")
        row.append(f"{cus(c(mode, 'lat', s, 'ow_p50_us'))} / {cus(c(mode, 'lat', s, 'ow_p99_us'))}")
    lines.append("| " + " | ".join(row) + " |")
lines += ["", "## Idle ring (64 B rings, 1 s without traffic): CPU the waiting consumer used", "",
          "| wait | CPU % (each round) |", "|---|---|"]
for wait in ("adaptive", "sleep", "spin"):
    vals = [res["idle"]["consumer_cpu_percent"] for e in swift["runs"] if e["run"] == f"idle-{wait}"
            for res in e["report"]["results"] if "idle" in res]
    lines.append(f"| {wait} | {', '.join(f'{v:.1f}' for v in vals)} |")
open(f"{out}/shm-vs-limits-{date}.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
