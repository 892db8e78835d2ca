#!/usr/bin/env bash
# Installs what building Chronetix needs and is not part of the Swift toolchain: libcbor (the control
# plane's CBOR library), pkg-config to find it, python3 (the example `process` node and its tests) and
# graphviz (`chronetix graph FILE | dot -Tsvg`, and the test that draws an example with it).
# Safe to run again: it installs only what is missing.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libcbor 2>/dev/null || missing+=(libcbor-dev)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH (Swift 6.3 is required)" >&2; exit 1; }
