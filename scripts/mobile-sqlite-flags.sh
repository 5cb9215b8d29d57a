#!/usr/bin/env bash
# Prints LIBSQLITE3_FLAGS for the phones' library: the workspace's SQLite build flags
# (.cargo/config.toml, every build) without the JSON functions, which only the server uses.
# Set in the environment it overrides the config's [env]: scripts/mobile-release-size.sh,
# ios/build-xcframework.sh and the Gradle cargo-ndk tasks use it. Core must not call JSON
# functions (its tests run with them); mobile-release-size.sh checks.
set -euo pipefail
cd "$(dirname "$0")/.."
base=$(sed -n 's/^LIBSQLITE3_FLAGS = "\(.*\)"$/\1/p' .cargo/config.toml)
[ -n "$base" ] || { echo "no LIBSQLITE3_FLAGS in .cargo/config.toml" >&2; exit 1; }
echo "$base -DSQLITE_OMIT_JSON"
