#!/usr/bin/env bash
# Runs the ring, bus and system-layer tests (ShmDataPortTests and IpcEventBusTests, which include the cross-process
# tests and their peer processes, and ChronetixSystemTests) under AddressSanitizer, then under ThreadSanitizer.
# Each sanitizer builds in its own scratch path (.build-asan, .build-tsan), so sanitized objects never mix
# with the normal build. Both runs always happen; the script exits non-zero if a build or a test failed
# under either.
#
# ThreadSanitizer instruments the threads of one process only: it cannot see the other side of a ring that
# lives in another process, so a race between processes is never reported (nor falsely reported) here.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

filter='ShmDataPortTests|ChronetixSystemTests|IpcEventBusTests'

# run SANITIZER SCRATCH: builds everything with tests under the sanitizer, then runs the filtered tests.
run() {
    local sanitizer=$1 scratch=$2
    echo "sanitize: building with --sanitize=$sanitizer in $scratch" >&2
    swift build --build-tests --scratch-path "$scratch" --sanitize="$sanitizer" -Xswiftc -warnings-as-errors ||
        return 1
    echo "sanitize: running $filter under --sanitize=$sanitizer" >&2
    swift test --skip-build --scratch-path "$scratch" --sanitize="$sanitizer" --disable-xctest --filter "$filter" ||
        return 1
}

# LeakSanitizer (part of ASan on Linux) checks every process at exit. swift-corelibs-foundation's Process.run
# sometimes leaves the 32-byte weak-reference side table of a launched Process behind (allocated under
# swift_weakAssign in Process.run; not reachable from test code). Suppress leaks under that one function
# (matched by its mangled name, without the leading '$', which a suppression pattern reads as an anchor).
mkdir -p .build-asan
printf 'leak:s10Foundation7ProcessC3runyyKF\n' >.build-asan/lsan-suppressions.txt
export LSAN_OPTIONS="suppressions=$PWD/.build-asan/lsan-suppressions.txt${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

failed=()
run address .build-asan || failed+=(address)
run thread .build-tsan || failed+=(thread)

if [ ${#failed[@]} -gt 0 ]; then
    echo "sanitize: FAILED under: ${failed[*]}" >&2
    exit 1
fi
echo "sanitize: passed under address and thread" >&2
