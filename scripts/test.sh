#!/usr/bin/env bash
# The whole test suite, as CI runs it: install what is missing, build everything (tests and executables)
# with warnings as errors, then run every test. Exits non-zero when any step or any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
swift build --build-tests -Xswiftc -warnings-as-errors
swift test --skip-build --disable-xctest
