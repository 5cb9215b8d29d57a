#!/usr/bin/env bash
# Fuzzing suite: builds the cargo-fuzz targets under fuzz/ once, runs each for a short
# bounded time from its committed seeds, and fails on any crash: a panic, an allocation
# over 256 MB in one call (an allocation bomb), more than 1 GB resident, an input that takes
# longer than the timeout, or an assertion of the target (the inspection and automerge
# disagreeing). Prints executions and corpus size per target. fuzz/README.md has the long
# run, and where crashes land.
#
# Build: no sanitizer (`-s none`), debug assertions on (`-a`, which also turns on integer
# overflow checks). The targets are safe Rust plus SQLite; AddressSanitizer finds memory
# errors that safe Rust does not make, and costs build and run time (its build did not
# finish in 39 min here). What this suite must catch (panics, overflows, unbounded
# allocation, hangs) needs no sanitizer: libFuzzer's -malloc_limit_mb and -rss_limit_mb
# catch the bombs. FUZZ_SANITIZER=address gives the ASan build (fuzz/README.md).
#
# Cold build budget: CI starts with nothing cached, so the build lives in the clone's
# target/fuzz and is measured cold. fuzz/Cargo.toml's release profile keeps it small: the
# fuzzed crates (automerge, core, server, SQLite, CBOR, inflate, SHA-256) at opt-level 1,
# everything else unoptimised (cargo-fuzz itself forces one codegen unit and line tables).
# Measured cold (empty target/fuzz, warm cargo registry, nightly and cargo-fuzz installed)
# on this 2-core machine at load 1.5-3, December 2026: build 152 s, the whole suite (three
# targets, 20 s each) 217 s wall, 4 min 33 s of CPU. Before, with release defaults
# (opt-level 3, the build kept in ~/.cache): 24 min wall, 9 min of CPU at load 10-17.
# With photo_upload back (four targets, build already warm): the whole suite 98 s wall at
# load ~3; the cold figure above is not re-measured.
# Installing nightly (minimal profile) and cargo-fuzz (a cargo install, about 2 min of CPU)
# on a machine without them is not counted.
#
# Environment: FUZZ_SECONDS (per target, default 20), FUZZ_TARGETS (default all four),
# FUZZ_SANITIZER (default none), FUZZ_TARGET_DIR (default target/fuzz in the clone),
# OUTPOST_FUZZ_STRICT=1 (guarded automerge panics and gaps in the blob store's own checks
# are crashes too).
set -euo pipefail
cd "$(dirname "$0")/../.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
TARGETS=(${FUZZ_TARGETS:-change document sync_body photo_upload})
SANITIZER=${FUZZ_SANITIZER:-none}
CARGO_FUZZ_VERSION=0.13.2
started=$(date +%s)

# The nightly toolchain (cargo-fuzz passes nightly-only flags to rustc) and cargo-fuzz.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION"; then
    echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

cd fuzz
# Its own directory under the clone's target/: the instrumented build shares nothing with
# the workspace's.
TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/../target/fuzz}
mkdir -p "$TARGET_DIR"
FLAGS=(--sanitizer "$SANITIZER" --debug-assertions --target-dir "$TARGET_DIR")
echo "== building ${#TARGETS[@]} fuzz targets (${FLAGS[*]})"
build_started=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${TARGETS[@]}"; do
    if ! cargo +nightly fuzz build "${FLAGS[@]}" "$t" >>"$work/build.log" 2>&1; then
        grep -Ev '^\s+(Compiling|Downloaded|Downloading) ' "$work/build.log" | tail -40 >&2
        echo "fuzz build of $t failed" >&2
        exit 1
    fi
done
echo "built in $(($(date +%s) - build_started)) s"
failed=()
printf '%-14s %12s %10s %12s %8s\n' target executions "corpus" "corpus bytes" result
for t in "${TARGETS[@]}"; do
    # New inputs go to a scratch directory: the committed seeds stay as they are.
    mkdir -p "$work/$t" "artifacts/$t"
    log="$work/$t.log"
    result=ok
    if ! cargo +nightly fuzz run "${FLAGS[@]}" "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=25 \
        -malloc_limit_mb=256 -rss_limit_mb=1024 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
        result=CRASH
        failed+=("$t")
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    files=$(find "$work/$t" "corpus/$t" -type f | wc -l)
    bytes=$(find "$work/$t" "corpus/$t" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    printf '%-14s %12s %10s %12s %8s\n' "$t" "${execs:-?}" "$files" "$bytes" "$result"
    if [ "$result" != ok ]; then
        grep -E 'panicked|ERROR: libFuzzer|SUMMARY|Test unit written|out-of-memory|malloc' "$log" | head -20 >&2 || true
        echo "reproduce: (cd fuzz && cargo +nightly fuzz run ${FLAGS[*]} $t <artifact>)" >&2
    fi
done
echo "fuzz suite: $(($(date +%s) - started)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
