#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: formatting, lints, the Rust
# test suites (unit, property, story, crash and end-to-end tests), and each component's
# extra suite under scripts/suites/ (Kotlin on the JVM, ...). Installs what those need.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# Targets with `test = false` (run only by a suite script) are not in --all-targets.
cargo clippy --locked -p outpost-tests --test pg_cluster --test pg_photos -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

for suite in scripts/suites/*.sh; do
    [ -e "$suite" ] || continue
    echo "== $suite"
    bash "$suite"
done
echo "== all checks passed"
