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
# fails at the end if any did. Each suite's output is also kept in target/suite-logs/, and
# a failed suite's last lines are printed again at the very end, where a reader of a long
# log (or of only its tail) finds them.
logs=target/suite-logs
rm -rf "$logs"
mkdir -p "$logs"
failed=()
for suite in scripts/suites/*.sh; do
    [ -e "$suite" ] || continue
    step "$suite"
    log="$logs/$(basename "$suite" .sh).log"
    set +e
    bash "$suite" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    set -e
    [ "$status" -eq 0 ] || failed+=("$suite")
done
step ""
for suite in "${failed[@]}"; do
    log="$logs/$(basename "$suite" .sh).log"
    echo "== why $suite failed (its last 60 lines; all of it in $log)"
    tail -n 60 "$log"
done
echo "== wall time per step"
printf '%s\n' "${timings[@]}"
printf '%6d s  total\n' $(($(date +%s) - all_started))
if [ ${#failed[@]} -gt 0 ]; then
    echo "== failed: ${failed[*]}" >&2
    exit 1
fi
echo "== all checks passed"
