#!/usr/bin/env bash
# Prints, one KEY=VALUE a line, the environment every build of the phones' library uses
# (scripts/mobile-release-size.sh, ios/build-xcframework.sh, the Gradle cargo-ndk tasks):
# the pinned nightly toolchain, with std rebuilt for the phone (-Zbuild-std) so it is
# optimised for size and linked under the same fat LTO as our code, without the panic
# backtrace symbolizer (std's `backtrace` feature: gimli, addr2line, rustc_demangle, ~57
# KB; a phone has no debug info to symbolize with anyway). panic stays `unwind`
# (panic_unwind is rebuilt too): the bindings and core's untrusted::guard catch panics.
# And -Zlocation-detail=none: panics carry no file:line:column (every panic site's path
# string and Location record, ~126 KB; core's untrusted::guard then reports a caught
# panic's message without its place). Together about 320 KB of the arm64 library
# (scripts/mobile-release-size.sh's header). Debug formatting is left whole
# (-Zfmt-debug): dependencies' error messages, which reach users, use it.
# The flags go per target (CARGO_TARGET_<T>_RUSTFLAGS adds to .cargo/config.toml's
# [target] rustflags rather than replacing them, as RUSTFLAGS would).
# Installs the toolchain and its rust-src component (std's sources) when missing.
set -euo pipefail
# The nightly of this machine (rustc 1.97.0-nightly e50aa6fba 2026-05-19); bump both together.
pinned=nightly-2026-05-20
commit=e50aa6fba
toolchain=$pinned
if ! rustup run "$pinned" rustc -V >/dev/null 2>&1; then
    if rustup run nightly rustc -V 2>/dev/null | grep -q "$commit"; then
        toolchain=nightly
    else
        echo "installing the $pinned toolchain" >&2
        rustup toolchain install "$pinned" --profile minimal >&2
    fi
fi
sysroot=$(rustup run "$toolchain" rustc --print sysroot)
[ -f "$sysroot/lib/rustlib/src/rust/library/std/Cargo.toml" ] \
    || rustup component add rust-src --toolchain "$toolchain" >&2
echo "RUSTUP_TOOLCHAIN=$toolchain"
echo "CARGO_UNSTABLE_BUILD_STD=std,panic_unwind"
echo "CARGO_UNSTABLE_BUILD_STD_FEATURES=panic-unwind,optimize_for_size"
flags="-Zlocation-detail=none"
echo "MOBILE_RUSTFLAGS=$flags"
for t in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android i686-linux-android \
    aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
    t=$(echo "$t" | tr 'a-z-' 'A-Z_')
    echo "CARGO_TARGET_${t}_RUSTFLAGS=$flags"
done
