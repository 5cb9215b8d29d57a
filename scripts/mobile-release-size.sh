#!/usr/bin/env bash
# Builds liboutpost_ffi with the mobile release profile (lto, codegen-units 1, opt-level z,
# stripped, panic = unwind) for this host, reports its size and fails above the budget.
# Also checks that no aws-lc (large C crypto) is linked in. Slow: a full LTO build.
#
#   scripts/mobile-release-size.sh [--target <triple>]   (default: the host)
set -euo pipefail
cd "$(dirname "$0")/.."

budget=$((4 * 1024 * 1024))
target_args=()
out_dir=target/release-mobile
if [ "${1:-}" = "--target" ] && [ -n "${2:-}" ]; then
    target_args=(--target "$2")
    out_dir="target/$2/release-mobile"
fi

if cargo tree --locked -p outpost-ffi -e normal --prefix none "${target_args[@]}" | grep -q '^aws-lc'; then
    echo "aws-lc is in outpost-ffi's dependency tree; use rustls with ring" >&2
    exit 1
fi

# Only the cdylib: the staticlib would double the (slow) link for nothing here. Built for
# outpost-ffi alone so uniffi's `cli` feature (the bindgen binary's) stays out.
cargo rustc --locked -p outpost-ffi --lib --crate-type cdylib --profile release-mobile "${target_args[@]}"

lib="$out_dir/liboutpost_ffi.so"
[ -f "$lib" ] || lib="$out_dir/liboutpost_ffi.dylib"
bytes=$(wc -c <"$lib")
awk -v lib="$lib" -v b="$bytes" -v max="$budget" \
    'BEGIN { printf "stripped %s: %d bytes (%.2f MiB), budget %.2f MiB\n", lib, b, b / 1048576, max / 1048576 }'
if [ "$bytes" -gt "$budget" ]; then
    echo "over budget" >&2
    exit 1
fi
