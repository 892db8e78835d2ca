#!/usr/bin/env python3
"""A Chronetix `process` node in Python: every frame from input port 0 goes out, unchanged, on output 0.

A process node reads records from standard input and writes records to standard output. A record is a
40-byte little-endian header and its payload (docs/nodes.md, "Process nodes"):

    magic "CXF1" | length u32 | port u16 | flags u16 | reserved u32 | sequence u64 | timestamp i64 | deadline i64

Standard input ends when every input of the node has ended; the process then writes what it still holds and
exits with status 0. Standard error goes to the run's log with the node's id: print diagnostics there, never
to standard output.

Options:
  --verbose       log a line for every 1000 frames
  --fail-at N     report an error for the frame with sequence N instead of passing it on
                  (the node's `on_error` policy decides what happens)
  --exit-at N     exit with status 3 on reaching frame N (to see a failing process node)
"""

import os
import struct
import sys

HEADER = struct.Struct("<4sIHHIQqq")
MAGIC = b"CXF1"
ERROR_FLAG = 1


def read_exactly(stream, count):
    """Reads `count` bytes, or returns what there is at end of file."""
    chunks = []
    while count > 0:
        chunk = stream.read(count)
        if not chunk:
            break
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def main():
    args = sys.argv[1:]
    verbose = "--verbose" in args
    fail_at = int(args[args.index("--fail-at") + 1]) if "--fail-at" in args else None
    exit_at = int(args[args.index("--exit-at") + 1]) if "--exit-at" in args else None
    node = os.environ.get("CHRONETIX_NODE", "?")
    source = sys.stdin.buffer
    sink = sys.stdout.buffer
    frames = 0
    while True:
        header = read_exactly(source, HEADER.size)
        if not header:
            break  # end of input: every upstream edge has ended
        if len(header) < HEADER.size:
            print(f"{node}: input ended inside a record header", file=sys.stderr)
            return 2
        magic, length, port, flags, _, sequence, timestamp, deadline = HEADER.unpack(header)
        if magic != MAGIC:
            print(f"{node}: not a Chronetix record: {header[:8]!r}", file=sys.stderr)
            return 2
        payload = read_exactly(source, length)
        if exit_at is not None and sequence == exit_at:
            print(f"{node}: exiting at frame {sequence} as asked", file=sys.stderr)
            sink.flush()
            return 3
        if fail_at is not None and sequence == fail_at:
            message = f"frame {sequence} refused as asked".encode()
            sink.write(HEADER.pack(MAGIC, len(message), 0, ERROR_FLAG, 0, sequence, 0, 0))
            sink.write(message)
            continue
        # Out on output 0, keeping the input's timestamp so that latency at the sink stays end to end.
        sink.write(HEADER.pack(MAGIC, length, 0, 0, 0, 0, timestamp, 0))
        sink.write(payload)
        frames += 1
        if verbose and frames % 1000 == 0:
            print(f"{node}: {frames} frames", file=sys.stderr)
    sink.flush()
    if verbose:
        print(f"{node}: done, {frames} frames", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
