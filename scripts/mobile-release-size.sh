#!/usr/bin/env bash
# Builds liboutpost_ffi with the mobile release profile (lto, codegen-units 1, opt-level z,
# stripped, panic = unwind), reports its size and what it is spent on, and fails above the
# 4 MiB budget. Also checks that no aws-lc (large C crypto) is linked in.
#
#   scripts/mobile-release-size.sh            arm64, what phones run (default)
#   scripts/mobile-release-size.sh --host     this machine's target
#   scripts/mobile-release-size.sh --target T another target, its toolchain set up by you
#
# arm64 is built as aarch64-unknown-linux-gnu with clang and lld, the compiler and linker
# kind of the Android NDK, linked as .cargo/config.toml links aarch64-linux-android:
# relative relocations packed (RELR here, Android's APS2 there, the same size within a few
# KB) and identical functions folded. SQLite's build options and the C unwind tables come
# from .cargo/config.toml for every build. Installs clang, lld and the arm64 C library with
# apt-get when they are missing (and the toolchain: scripts/mobile-toolchain.sh).
#
# Built with the pinned nightly and std rebuilt for the phone (scripts/mobile-toolchain.sh,
# the one definition the Android and iOS builds share): std optimised for size under the
# same fat LTO, without the backtrace symbolizer, and -Zlocation-detail=none (no panic
# file:line strings). Measured: stable toolchain 4,441,368 B (247,064 over); + build-std
# with optimize_for_size, no backtrace 4,248,200 B; + location-detail=none 4,122,248 B.
#
# Where the bytes go (arm64, December 2026, 4,122,248 B stripped: 72,056 B under budget).
# Sections: .text 2,588,560, .rodata 603,004, unwind information 811,772 (.eh_frame
# 492,724, .gcc_except_table 186,388, .eh_frame_hdr 132,660; the price of panic = unwind,
# which the bindings need), .data.rel.ro 55,080. Code and data per crate (KB, named
# symbols, this script's report): SQLite's C ~775 (285 named, the rest static functions,
# "other_C" below); Rust's core library 190 (generic code instantiated for our types);
# automerge 264 + hexane (its columns) 176; ring 224 C and assembly (the P-256 base-point
# table alone 148) + 37 Rust; rustls 169; outpost_core 169; alloc 84; tokio 63; std 46;
# the HTTP client stack ~160 (reqwest 40, hyper 33, hyper_util 36, http 33, url 19);
# UniFFI: outpost_ffi 39 + uniffi_core 19; webpki 31 (+ the bundled roots); zlib_rs 36;
# serde_json 33. The TLS and HTTP stack (over 650 KB) is the one large block a phone
# already has in its platform (OkHttp / URLSession): a foreign transport through the
# bindings is the next way down if the library grows again.
#
# A full fat-LTO build with std rebuilt: 6.5 minutes on 2 cores from nothing (measured
# 383 s; 511 s on a busier machine; the stable build took 5-6 minutes, so std's rebuild
# adds about a minute, not timed apart); later runs
# rebuild only what changed (target/<triple>/release-mobile is kept), 1 s when nothing did.
set -euo pipefail
cd "$(dirname "$0")/.."

budget=$((4 * 1024 * 1024))
target=aarch64-unknown-linux-gnu
case "${1:-}" in
    --host) target=$(rustc -vV | sed -n 's/^host: //p') ;;
    --target) target="${2:?--target needs a triple}" ;;
    "") ;;
    *) echo "usage: $0 [--host | --target <triple>]" >&2; exit 2 ;;
esac
host=$(rustc -vV | sed -n 's/^host: //p')
# The phones' toolchain: pinned nightly, std rebuilt for size (scripts/mobile-toolchain.sh).
set -a
eval "$(bash scripts/mobile-toolchain.sh)"
set +a
started=$(date +%s)

if cargo tree --locked -p outpost-ffi -e normal --prefix none --target "$target" | grep -q '^aws-lc'; then
    echo "aws-lc is in outpost-ffi's dependency tree; use rustls with ring" >&2
    exit 1
fi

# Relocation packing and code folding for the final link (lld; rust-lld is the default
# linker of x86_64 Linux hosts). -z defs: a symbol left undefined (a SQLite API compiled
# out but still called) would make the library fail to load on the phone; fail here instead.
link_args=(-C link-arg=-Wl,--pack-dyn-relocs=relr -C link-arg=-Wl,--icf=all -C link-arg=-Wl,-z,defs)
size_tool=size
nm_tool=nm
strip_tool=strip
if [ "$target" = aarch64-unknown-linux-gnu ] && [ "$host" != "$target" ]; then
    need=()
    command -v clang >/dev/null || need+=(clang)
    command -v ld.lld >/dev/null || need+=(lld)
    [ -d /usr/lib/gcc-cross/aarch64-linux-gnu ] || need+=(gcc-aarch64-linux-gnu)
    if [ ${#need[@]} -gt 0 ]; then
        echo "== installing ${need[*]} (apt-get)" >&2
        apt-get install -y -q "${need[@]}" >&2
    fi
    ar=$(command -v llvm-ar || ls /usr/bin/llvm-ar-* 2>/dev/null | head -n 1)
    [ -n "$ar" ] || { echo "no llvm-ar found" >&2; exit 1; }
    export CC_aarch64_unknown_linux_gnu=clang
    export AR_aarch64_unknown_linux_gnu="$ar"
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=clang
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--target=aarch64-linux-gnu -C link-arg=-fuse-ld=lld $MOBILE_RUSTFLAGS"
    size_tool=$(command -v aarch64-linux-gnu-size || command -v llvm-size || ls /usr/bin/llvm-size-* | head -n 1)
    nm_tool=$(command -v aarch64-linux-gnu-nm || command -v llvm-nm)
    strip_tool=$(command -v aarch64-linux-gnu-strip || command -v llvm-strip)
fi

# The phones' SQLite: the workspace's flags without the JSON functions.
LIBSQLITE3_FLAGS=$(bash scripts/mobile-sqlite-flags.sh)
export LIBSQLITE3_FLAGS
if grep -rnE "json_(each|tree|extract|array|object)|[^_a-z]json\(" core/src bindings/src --include=*.rs \
    | grep -v serde_json; then
    echo "core or the bindings call SQLite's JSON functions, which the phones' SQLite lacks" >&2
    exit 1
fi

# Only the cdylib: the staticlib would double the (slow) link for nothing here. Built for
# outpost-ffi alone so uniffi's `cli` feature (the bindgen binary's) stays out. The final
# link keeps its symbols (`-C strip=none` on this crate only, so the dependencies built
# with the profile are reused) for the report below; the budget is checked on a stripped
# copy, what the profile's `strip = true` ships.
cargo rustc --locked -p outpost-ffi --lib --crate-type cdylib --profile release-mobile \
    --target "$target" -- "${link_args[@]}" -C strip=none

out_dir="target/$target/release-mobile"
full="$out_dir/liboutpost_ffi.so"
[ -f "$full" ] || full="$out_dir/liboutpost_ffi.dylib"
lib="$out_dir/stripped-$(basename "$full")"
"$strip_tool" --strip-all -o "$lib" "$full"
bytes=$(wc -c <"$lib")
# Code and constant data per crate, from the symbol table of the unstripped copy (Rust
# paths demangled; C functions by their prefix). Generic code is charged to the crate of
# the function's path, which for trait impls is the type's crate.
echo "code and data by crate (symbols >= 1 byte; KB):"
"$nm_tool" --size-sort -S --radix=d -C "$full" 2>/dev/null | awk '
    $3 ~ /^[tTrRdDbB]$/ {
        size = $2 + 0; name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
        gsub(/^(<|&|mut |dyn |\[|\()+/, "", name)
        if (match(name, /^[A-Za-z_][A-Za-z0-9_]*::/)) crate = substr(name, 1, RLENGTH - 2)
        else if (name ~ /^sqlite3/) crate = "sqlite_C"
        else if (name ~ /^(ring_core|GFp|p256|x25519|ecp_nistz|aes_|gcm_|chacha|sha256_block|sha512_block|bn_|LIMBS|OPENSSL)/) crate = "ring_C_asm"
        else crate = "other_C"
        by[crate] += size; total += size
    }
    END { for (c in by) printf "  %-24s %7.0f\n", c, by[c] / 1024; printf "  %-24s %7.0f\n", "all_named_symbols", total / 1024 }' | sort -k2 -n -r | head -25
echo "sections of $lib (bytes):"
"$size_tool" -A "$lib" | awk '$2 ~ /^[0-9]+$/ && $2 >= 8192 && $1 != "Total" { printf "  %-20s %9d\n", $1, $2 }' | sort -k2 -n -r
awk -v lib="$lib" -v b="$bytes" -v max="$budget" -v t="$target" -v s="$(($(date +%s) - started))" \
    'BEGIN { printf "stripped %s (%s): %d bytes (%.2f MiB), budget %.2f MiB; measured in %d s\n", lib, t, b, b / 1048576, max / 1048576, s }'
if [ "$bytes" -gt "$budget" ]; then
    echo "over budget by $((bytes - budget)) bytes" >&2
    exit 1
fi
