#!/usr/bin/env bash
# fuzz-cbor.sh: fuzz ChronetixCBOR's decoders (documents and envelopes) with libFuzzer + ASan.
#
# Usage: scripts/fuzz-cbor.sh [seconds]   (default 60)
#
# 1. Builds the replay flavour of `cbor-fuzz` (a plain debug build) and asks it for the seed corpus
#    (`--print-seeds`: valid envelopes and documents, one hex line each), written to
#    .build-cbor-fuzz/seeds/ with xxd.
# 2. Builds `cbor-fuzz` again with `--sanitize=fuzzer --sanitize=address -Xswiftc -DCBOR_FUZZ` into
#    its own scratch path (.build-cbor-fuzz). Note: `-Xswiftc -sanitize=fuzzer,address` does NOT link
#    with SwiftPM on Linux: SwiftPM renames an executable's entry point to `cbor_fuzz_main` and
#    defines `main` as an alias of it, which a libFuzzer target (no `main` of its own) cannot satisfy;
#    SwiftPM's own `--sanitize=fuzzer` turns that renaming off.
# 3. Runs libFuzzer for the given time over a working corpus in .build-cbor-fuzz/corpus/ (kept between
#    runs). Findings land in fuzz-artifacts/ (git-ignored); replay one with
#    `xxd -p fuzz-artifacts/crash-… | tr -d '\n' | .build-cbor/debug/cbor-fuzz; echo`.
#
# libcbor itself is a system library and is not instrumented: coverage guides the Swift side only.
# The target traps when a value that decodes does not survive encode → decode; any CodecError is fine.
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seeds=.build-cbor-fuzz/seeds
corpus=.build-cbor-fuzz/corpus
artifacts=fuzz-artifacts
mkdir -p "$seeds" "$corpus" "$artifacts"

swift build --scratch-path .build-cbor --product cbor-fuzz
n=0
while read -r line; do
    n=$((n + 1))
    printf '%s' "$line" | xxd -r -p >"$seeds/seed-$n"
done < <(.build-cbor/debug/cbor-fuzz --print-seeds)
echo "fuzz-cbor: wrote $n seeds to $seeds"

swift build --scratch-path .build-cbor-fuzz -c debug \
    --sanitize=fuzzer --sanitize=address -Xswiftc -DCBOR_FUZZ --product cbor-fuzz

.build-cbor-fuzz/debug/cbor-fuzz "$corpus" "$seeds" \
    -max_total_time="$seconds" \
    -max_len=8192 \
    -rss_limit_mb=2048 \
    -timeout=10 \
    -artifact_prefix="$artifacts/" \
    -print_final_stats=1
