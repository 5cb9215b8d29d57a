#!/usr/bin/env bash
# Runs every check and test of the project on a fresh machine: formatting, lints, the Rust
# test suites (unit, property, story, crash and end-to-end tests), and each component's
# extra suite under scripts/suites/ (Kotlin on the JVM, ...). Installs what those need.
set -euo pipefail
cd "$(dirname "$0")/.."

# Wall time of each step, printed as it ends and again in a table at the end.
timings=()
all_started=$(date +%s)
step_started=$all_started
step() {
    local now
    now=$(date +%s)
    [ -z "${step_name:-}" ] || timings+=("$(printf '%6d s  %s' $((now - step_started)) "$step_name")")
    step_name="$1"
    step_started=$now
    [ -z "$1" ] || echo "== $1"
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# Targets with `test = false` (run only by a suite script) are not in --all-targets.
cargo clippy --locked -p outpost-tests --test pg_cluster --test pg_photos -- -D warnings

step "cargo test"
cargo test --workspace --locked

# Every suite runs even when one fails, so one failure does not hide another; the command
# fails at the end if any did.
failed=()
for suite in scripts/suites/*.sh; do
    [ -e "$suite" ] || continue
    step "$suite"
    bash "$suite" || failed+=("$suite")
done
step ""
echo "== wall time per step"
printf '%s\n' "${timings[@]}"
printf '%6d s  total\n' $(($(date +%s) - all_started))
if [ ${#failed[@]} -gt 0 ]; then
    echo "== failed: ${failed[*]}" >&2
    exit 1
fi
echo "== all checks passed"
