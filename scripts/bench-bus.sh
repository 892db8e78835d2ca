#!/usr/bin/env bash
# Measures the control-plane bus against raw Unix-domain sockets (shared/peers/limits), back to back.
#
#   scripts/bench-bus.sh   ROUNDS rounds (default 2), each, in this order:
#                            1. the C reference's UDS stream and ping-pong: run.sh --only uds (pinned, REPEAT=3);
#                            2. chronetix bench bus with its defaults (not pinned);
#                            3. chronetix bench bus --pin, the request-reply rows only;
#                            4. the C reference's UDS ping-pong unpinned (PIN=0), 64 B and 4 KiB.
#                          so that the bus and the sockets see the same machine minutes. Writes to OUT (default
#                          docs/bench):
#                            bus-DATE.json          every chronetix bench bus report, by round
#                            limits-uds-DATE.json   every UDS result, by round
#                            bus-DATE.txt           what every command printed, in order
#                            bus-vs-uds-DATE.md     per round: the bus's rows against the UDS figures, with ratios
#
#   scripts/bench-bus.sh paired   PAIRS times (default 7), 0.5 s per measurement: the UDS stream at 64 B (pinned),
#                          then the bus's publish rows at 64 B, 1 subscriber; the UDS ping-pong at 64 B pinned and
#                          unpinned, then the bus's request-reply rows at 64 B, unpinned and with --pin. The median
#                          of the per-pair ratios cancels most of the host's slow and fast phases, which move a
#                          wake-up between about 5 and 30 us. Each pair ends with the bus's rows again with
#                          --busy-poll 0 (no polling before sleeping). Writes bus-paired-DATE.txt (every result line) and
#                          bus-paired-DATE.md (the ratios).
#
#   ROUNDS=1 DURATION=0.3 OUT=/tmp/x scripts/bench-bus.sh   a smoke run
#
# Needs python3 for the summary and gcc for the C reference; builds chronetix in release into .build-bench.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS="${ROUNDS:-2}"
DURATION="${DURATION:-1}"
OUT="${OUT:-docs/bench}"
DATE="${DATE:-$(date -u +%Y-%m-%d)}"
LIMITS="${LIMITS:-$(cd .. && pwd)/shared/peers/limits}"
[ -x "$LIMITS/run.sh" ] || { echo "bench-bus: the C reference (shared/peers/limits/run.sh) is missing" >&2; exit 1; }

swift build -c release --scratch-path .build-bench --product chronetix >&2
BIN=.build-bench/release/chronetix
UDS="${LIMITS_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/chronetix-limits}/build/uds"
RAW="$(mktemp -d /tmp/chronetix-bench-bus.XXXXXX)"
trap 'rm -rf "$RAW"' EXIT
mkdir -p "$OUT"

WHAT="${1:-rounds}"
case "$WHAT" in rounds | paired) ;; *) echo "usage: scripts/bench-bus.sh [rounds|paired]" >&2; exit 64 ;; esac
if [ "$WHAT" = paired ]; then
    PAIRS="${PAIRS:-7}"
    # Builds the reference binaries (and checks them) with a tiny run.
    REPEAT=1 DURATION=0.05 "$LIMITS/run.sh" --only uds >/dev/null
    LINES="$OUT/bus-paired-$DATE.txt"
    : >"$LINES"
    # bus <pair> <name> <arguments...>: one line per row of a 0.5 s chronetix bench bus run at 64 B, 1 subscriber
    bus() {
        local pair="$1" name="$2"
        shift 2
        "$BIN" bench bus --duration 0.5 --sizes 64 --subscribers 1 --json "$RAW/b.json" "$@" >/dev/null
        python3 "$RAW/line.py" "$RAW/b.json" "$pair" "$name" >>"$LINES"
    }
    cat >"$RAW/line.py" <<'PYEOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    latency = r.get("latency_ns", {})
    print(f"BUS pair={sys.argv[2]} name={sys.argv[3]} test={r['test']} mps={r['messages_per_second']:.0f} "
          f"p50_us={latency.get('p50', 0) / 1000:.2f} p99_us={latency.get('p99', 0) / 1000:.2f}")
PYEOF
    # reference <pair> <name> <environment and command...>: the C reference's RESULT line
    reference() {
        local pair="$1" name="$2"
        shift 2
        echo "UDS pair=$pair name=$name $(env "$@" | grep '^RESULT' | cut -d' ' -f2-)" >>"$LINES"
    }
    for pair in $(seq "$PAIRS"); do
        echo "pair $pair of $PAIRS" >&2
        reference "$pair" stream REPEAT=1 DURATION=0.5 "$UDS" -t tput -s 64
        bus "$pair" publish --tests publish,publish-batched,publish-thread
        reference "$pair" pingpong DURATION=0.5 "$UDS" -t lat -s 64
        reference "$pair" pingpong-unpinned PIN=0 DURATION=0.5 "$UDS" -t lat -s 64
        bus "$pair" request --tests request-reply-host,request-reply
        bus "$pair" request-pinned --tests request-reply-host,request-reply --pin
        bus "$pair" publish-nopoll --tests publish,publish-batched,publish-thread --busy-poll 0
        bus "$pair" request-nopoll --tests request-reply-host,request-reply --busy-poll 0
    done
    python3 - "$LINES" "$PAIRS" "$DATE" "$OUT/bus-paired-$DATE.md" <<'PYEOF'
import statistics, sys

path, pairs, date, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
runs = {}
for line in open(path):
    kind, *parts = line.split()
    fields = dict(part.split("=", 1) for part in parts if "=" in part)
    key = fields["name"] if kind == "UDS" else f"{fields['name']}/{fields['test']}"
    runs.setdefault(int(fields["pair"]), {})[key] = fields

# label, bus key, bus field, reference key, reference field, factor (2: one-way to round trip)
rows = [
    ("publish 64 B, 1 subscriber", "publish/publish", "mps", "stream", "fps", 1),
    ("publish-batched 64 B, 1 subscriber", "publish/publish-batched", "mps", "stream", "fps", 1),
    ("publish-thread 64 B, 1 subscriber", "publish/publish-thread", "mps", "stream", "fps", 1),
    ("request-reply-host 64 B", "request/request-reply-host", "p50_us", "pingpong", "ow_p50_us", 2),
    ("request-reply-host 64 B", "request/request-reply-host", "p50_us", "pingpong-unpinned", "ow_p50_us", 2),
    ("request-reply-host 64 B, --pin", "request-pinned/request-reply-host", "p50_us", "pingpong", "ow_p50_us", 2),
    ("request-reply 64 B", "request/request-reply", "p50_us", "pingpong", "ow_p50_us", 2),
    ("request-reply 64 B", "request/request-reply", "p50_us", "pingpong-unpinned", "ow_p50_us", 2),
    ("request-reply 64 B, --pin", "request-pinned/request-reply", "p50_us", "pingpong", "ow_p50_us", 2),
    ("publish 64 B, 1 subscriber, --busy-poll 0", "publish-nopoll/publish", "mps", "stream", "fps", 1),
    ("publish-batched 64 B, 1 subscriber, --busy-poll 0", "publish-nopoll/publish-batched", "mps", "stream", "fps", 1),
    ("publish-thread 64 B, 1 subscriber, --busy-poll 0", "publish-nopoll/publish-thread", "mps", "stream", "fps", 1),
    ("request-reply-host 64 B, --busy-poll 0", "request-nopoll/request-reply-host", "p50_us", "pingpong", "ow_p50_us", 2),
    ("request-reply 64 B, --busy-poll 0", "request-nopoll/request-reply", "p50_us", "pingpong", "ow_p50_us", 2),
]
against = {"stream": "UDS stream", "pingpong": "UDS RTT, pinned", "pingpong-unpinned": "UDS RTT, not pinned"}
lines = [f"# chronetix bench bus vs Unix-domain sockets, paired, {date}", "",
         f"{pairs} pairs, 0.5 s per measurement, the reference first in each pair. Throughput: the bus's messages/s "
         "per subscriber against the UDS stream's frames/s (pinned). Latency: the bus's round-trip p50 against the "
         "UDS ping-pong's round trip (2 x its one-way p50), pinned (CPU0/CPU1) or not.", "",
         "| bus row | against | bus (median) | reference (median) | ratio in each pair | median ratio |",
         "| --- | --- | ---: | ---: | --- | ---: |"]
for label, key, field, reference, reference_field, factor in rows:
    ratios, ours, theirs = [], [], []
    for pair in sorted(runs):
        if key not in runs[pair] or reference not in runs[pair]:
            continue
        mine = float(runs[pair][key][field])
        base = factor * float(runs[pair][reference][reference_field])
        ours.append(mine)
        theirs.append(base)
        ratios.append(mine / base)
    if not ratios:
        continue
    shown = (lambda v: f"{v:.1f} µs") if factor == 2 else (lambda v: f"{v:,.0f}/s")
    lines.append(f"| {label} | {against[reference]} | {shown(statistics.median(ours))} | "
                 f"{shown(statistics.median(theirs))} | {' '.join(f'{r:.2f}' for r in ratios)} | "
                 f"**{statistics.median(ratios):.2f}** |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
    echo "written: $LINES $OUT/bus-paired-$DATE.md" >&2
    exit 0
fi

TEXT="$OUT/bus-$DATE.txt"
: >"$TEXT"

# say <line>: to the terminal and the text record
say() { echo "$*" | tee -a "$TEXT"; }
# record <command...>: runs it, its output to the terminal and the text record
record() {
    say "\$ $*"
    "$@" 2>&1 | tee -a "$TEXT"
    return "${PIPESTATUS[0]}"
}

for round in $(seq "$ROUNDS"); do
    say "# round $round, $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
    record env DURATION="$DURATION" "$LIMITS/run.sh" --only uds --json "$RAW/uds-$round.json"
    record "$BIN" bench bus --duration "$DURATION" --json "$RAW/bus-$round.json"
    record "$BIN" bench bus --duration "$DURATION" --pin --tests request-reply-host,request-reply \
        --json "$RAW/bus-pinned-$round.json"
    say "\$ PIN=0 DURATION=$DURATION $UDS -t lat -s 64,4096"
    PIN=0 DURATION="$DURATION" "$UDS" -t lat -s 64,4096 2>>"$TEXT" | grep '^RESULT' | tee -a "$TEXT" \
        >"$RAW/uds-unpinned-$round.txt"
done

python3 - "$RAW" "$ROUNDS" "$DATE" "$DURATION" "$OUT" <<'EOF'
import json, sys

raw, rounds, date, duration, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]

def result_line(path):
    rows = []
    for line in open(path):
        fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
        rows.append(fields)
    return rows

bus, uds = [], []
lines = [f"# chronetix bench bus vs Unix-domain sockets, {date}", "",
         f"{rounds} rounds, {duration} s per row. In each round: the C reference (`run.sh --only uds`, pinned: "
         "parent CPU0, child CPU1), then `chronetix bench bus` (not pinned), then its request-reply rows with "
         "`--pin`, then the reference's ping-pong unpinned. msg/s is per subscriber; RTT is a whole round trip.", ""]
for round in range(1, rounds + 1):
    report = json.load(open(f"{raw}/bus-{round}.json"))
    pinned = json.load(open(f"{raw}/bus-pinned-{round}.json"))
    reference = json.load(open(f"{raw}/uds-{round}.json"))
    unpinned = result_line(f"{raw}/uds-unpinned-{round}.txt")
    bus.append({"round": round, "report": report, "pinned_request_reply": pinned})
    uds.append({"round": round, "pinned": reference, "unpinned_latency": unpinned})
    stream = {r["size"]: r["fps"] for r in reference if r["test"] == "tput"}
    rtt = {r["size"]: r["rtt_p50_us"] for r in reference if r["test"] == "lat"}
    rtt_unpinned = {int(r["size"]): 2 * float(r["ow_p50_us"]) for r in unpinned}
    lines += [f"## Round {round}", "", "| test | payload | subs | bus msg/s | UDS stream msg/s | bus / UDS |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in report["results"]:
        if "latency_ns" in r:
            continue
        base = stream.get(r["payload"])
        ratio = f"{r['messages_per_second'] / base:.2f}" if base else "–"
        lines.append(f"| {r['test']} | {r['payload']} | {r['subscribers']} | {r['messages_per_second']:,.0f} | "
                     f"{base:,.0f} | {ratio} |" if base else f"| {r['test']} | {r['payload']} | "
                     f"{r['subscribers']} | {r['messages_per_second']:,.0f} | – | – |")
    lines += ["", "| test | payload | pinned | RTT p50 / p99 / p99.9 µs | UDS RTT p50 µs (pinned, unpinned) | "
              "p50 / UDS RTT p50 (pinned, unpinned) |", "| --- | ---: | --- | --- | --- | --- |"]
    for label, source in (("no", report), ("yes", pinned)):
        for r in source["results"]:
            if "latency_ns" not in r:
                continue
            latency = r["latency_ns"]
            p50 = latency["p50"] / 1000
            a, b = rtt.get(r["payload"]), rtt_unpinned.get(r["payload"])
            ratios = ", ".join(f"{p50 / x:.2f}" if x else "–" for x in (a, b))
            bases = ", ".join(f"{x:.1f}" if x else "–" for x in (a, b))
            lines.append(f"| {r['test']} | {r['payload']} | {label} | {p50:.1f} / {latency['p99'] / 1000:.1f} / "
                         f"{latency['p999'] / 1000:.1f} | {bases} | {ratios} |")
    lines.append("")

json.dump({"date": date, "rounds": rounds, "seconds_per_row": duration, "runs": bus},
          open(f"{out}/bus-{date}.json", "w"), indent=1)
json.dump({"date": date, "rounds": rounds, "seconds_per_size": duration, "runs": uds},
          open(f"{out}/limits-uds-{date}.json", "w"), indent=1)
open(f"{out}/bus-vs-uds-{date}.md", "w").write("\n".join(lines))
print("\n".join(lines))
EOF
echo "written: $OUT/bus-$DATE.json $OUT/limits-uds-$DATE.json $OUT/bus-$DATE.txt $OUT/bus-vs-uds-$DATE.md" >&2
