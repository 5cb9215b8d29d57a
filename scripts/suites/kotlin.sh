#!/usr/bin/env bash
# The Kotlin layer the Android app uses, tested on the JVM against the host-built library:
# builds liboutpost_ffi (debug) and the workspace's uniffi-bindgen, generates the Kotlin and
# Swift bindings (checking the Swift API), then runs `mvn -q -B clean test` in
# android/outpost-kotlin (kotlin-maven-plugin, JNA, kotlinx-coroutines, JUnit from Maven
# Central) and prints Surefire's summary. Needs a JDK (17+) and Maven (3.8+).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"

for tool in cargo java mvn; do
    command -v "$tool" >/dev/null || { echo "kotlin suite: '$tool' is required" >&2; exit 1; }
done

lib_dir="$(scripts/build-bindings.sh | tail -n 1)"
lib_dir="$root/$lib_dir"
generated="$root/target/uniffi/kotlin"
[ -f "$lib_dir/liboutpost_ffi.so" ] || [ -f "$lib_dir/liboutpost_ffi.dylib" ] \
    || { echo "kotlin suite: no library in $lib_dir" >&2; exit 1; }

project="$root/android/outpost-kotlin"
reports="$project/target/surefire-reports"
rm -rf "$reports"

echo "== mvn test (android/outpost-kotlin, library from $lib_dir)"
# Debian's Maven prints stray colour resets even in batch mode: strip them.
set +e
(cd "$project" && mvn -q -B -Dstyle.color=never clean test \
    -Djna.library.path="$lib_dir" \
    -Doutpost.generated="$generated" 2>&1) | sed -u 's/\x1b\[[0-9;]*m//g'
status=${PIPESTATUS[0]}
set -e

# Surefire's summary: one line per test class and the total, as Surefire prints it.
total=0 failures=0 errors=0 skipped=0
if compgen -G "$reports/TEST-*.xml" >/dev/null; then
    for f in "$reports"/*.txt; do
        grep -h "^Tests run:" "$f" || true
    done
    for f in "$reports"/TEST-*.xml; do
        head=$(grep -m1 -o '<testsuite [^>]*>' "$f")
        attr() { echo "$head" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
        total=$((total + $(attr tests)))
        failures=$((failures + $(attr failures)))
        errors=$((errors + $(attr errors)))
        skipped=$((skipped + $(attr skipped)))
    done
fi
echo "Results: Tests run: $total, Failures: $failures, Errors: $errors, Skipped: $skipped"

if [ "$status" -ne 0 ]; then
    echo "kotlin suite: FAILED (mvn exit $status)" >&2
    exit "$status"
fi
if [ "$total" -eq 0 ] || [ "$failures" -ne 0 ] || [ "$errors" -ne 0 ]; then
    echo "kotlin suite: FAILED (no tests ran, or some failed)" >&2
    exit 1
fi
echo "kotlin suite: passed"
