#!/usr/bin/env bash
# Builds the Rust core for iOS and packages it for OutpostKit:
#   ios/OutpostKit/Frameworks/OutpostFFIFFI.xcframework   liboutpost_ffi.a for
#       aarch64-apple-ios (devices) and, merged with lipo, aarch64-apple-ios-sim +
#       x86_64-apple-ios (simulators on Apple silicon and Intel), with the C header and
#       module map UniFFI generates
#   ios/OutpostKit/Sources/OutpostFFI/OutpostFFI.swift     the generated Swift
#
# NEEDS macOS with Xcode (xcodebuild, lipo) and rustup. It cannot run on the Linux build
# machines; CI there checks the generated Swift textually instead (check-swift-api.sh).
#
#   ios/build-xcframework.sh [--debug]    (default: the release-mobile profile)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" != "Darwin" ] || ! command -v xcodebuild >/dev/null; then
    echo "build-xcframework.sh needs macOS with Xcode (xcodebuild); this is $(uname -s)." >&2
    echo "On Linux, scripts/build-bindings.sh generates the Swift and ios/check-swift-api.sh checks it." >&2
    exit 1
fi

profile=release-mobile
[ "${1:-}" = "--debug" ] && profile=dev
out_profile=$profile
[ "$profile" = dev ] && out_profile=debug

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)

# The Swift, header and module map, generated from a host build (same interface).
scripts/build-bindings.sh >/dev/null
generated=target/uniffi/swift
bash ios/check-swift-api.sh "$generated"

export IPHONEOS_DEPLOYMENT_TARGET=16.0
# The phones' SQLite: the workspace's flags without the JSON functions.
LIBSQLITE3_FLAGS=$(bash scripts/mobile-sqlite-flags.sh)
export LIBSQLITE3_FLAGS
# The phones' toolchain: the pinned nightly rebuilding std for size (no rustup target
# needed: std is built from source), shared with Android and scripts/mobile-release-size.sh.
# The dev profile keeps the workspace's stable toolchain.
if [ "$profile" = release-mobile ]; then
    set -a
    eval "$(bash scripts/mobile-toolchain.sh)"
    set +a
else
    rustup target add "${targets[@]}"
fi
for t in "${targets[@]}"; do
    echo "== cargo build $t ($profile)"
    # Only the staticlib: the cdylib is for Android and the JVM tests.
    cargo rustc --locked -p outpost-ffi --lib --crate-type staticlib --profile "$profile" --target "$t"
done

work=target/ios-xcframework
rm -rf "$work"
mkdir -p "$work/headers" "$work/sim"
cp "$generated/OutpostFFIFFI.h" "$work/headers/"
# Inside an XCFramework the module map must be called module.modulemap.
cp "$generated/OutpostFFIFFI.modulemap" "$work/headers/module.modulemap"

lipo -create \
    "target/aarch64-apple-ios-sim/$out_profile/liboutpost_ffi.a" \
    "target/x86_64-apple-ios/$out_profile/liboutpost_ffi.a" \
    -output "$work/sim/liboutpost_ffi.a"

kit=ios/OutpostKit
rm -rf "$kit/Frameworks/OutpostFFIFFI.xcframework"
mkdir -p "$kit/Frameworks"
xcodebuild -create-xcframework \
    -library "target/aarch64-apple-ios/$out_profile/liboutpost_ffi.a" -headers "$work/headers" \
    -library "$work/sim/liboutpost_ffi.a" -headers "$work/headers" \
    -output "$kit/Frameworks/OutpostFFIFFI.xcframework"
cp "$generated/OutpostFFI.swift" "$kit/Sources/OutpostFFI/OutpostFFI.swift"

echo "== OutpostKit ready: $kit (open ios/OutpostApp with Xcode, see ios/README.md)"
