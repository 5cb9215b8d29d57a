#!/usr/bin/env bash
# Builds liboutpost_ffi for this host and generates the Kotlin and Swift bindings from it
# with the workspace's pinned uniffi-bindgen. Generated code is a build output (under
# target/uniffi/), never committed.
#
#   scripts/build-bindings.sh            debug library (what the JVM tests load)
#   scripts/build-bindings.sh --release  optimised library (target/release)
#
# Prints the directory holding the library on its last line, for -Djna.library.path.
set -euo pipefail
cd "$(dirname "$0")/.."

profile_args=()
lib_dir=target/debug
if [ "${1:-}" = "--release" ]; then
    profile_args=(--release)
    lib_dir=target/release
fi

case "$(uname -s)" in
    Darwin) lib="$lib_dir/liboutpost_ffi.dylib" ;;
    *) lib="$lib_dir/liboutpost_ffi.so" ;;
esac

echo "== building outpost-ffi and uniffi-bindgen" >&2
if [ ${#profile_args[@]} -eq 0 ]; then
    # One invocation, so features unify as in `cargo test --workspace`: nothing rebuilds.
    cargo build --locked -q -p outpost-ffi -p uniffi-bindgen
else
    cargo build --locked -q -p outpost-ffi "${profile_args[@]}"
    cargo build --locked -q -p uniffi-bindgen
fi
bindgen=target/debug/uniffi-bindgen

out=target/uniffi
rm -rf "$out/kotlin" "$out/swift"
echo "== generating Kotlin and Swift from $lib" >&2
"$bindgen" generate --no-format --library "$lib" --language kotlin --out-dir "$out/kotlin" >&2
"$bindgen" generate --no-format --library "$lib" --language swift --out-dir "$out/swift" >&2

echo "== checking the generated Swift API" >&2
bash ios/check-swift-api.sh "$out/swift" >&2

echo "$lib_dir"
