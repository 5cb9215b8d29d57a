#!/usr/bin/env bash
# The Kotlin layer the Android app uses, tested on the JVM against the host-built library:
# builds liboutpost_ffi (debug) and the workspace's uniffi-bindgen, generates the Kotlin and
# Swift bindings (checking the Swift API), builds outpost-server and starts it on 127.0.0.1
# (a free port, a temporary data directory, a small directory made with its admin
# subcommands) for the sync stories, then runs `mvn -q -B clean test` in
# android/outpost-kotlin (kotlin-maven-plugin, JNA, kotlinx-coroutines, JUnit from Maven
# Central) and prints Surefire's summary. The server is stopped on exit. Needs a JDK (17+)
# and Maven (3.8+).
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

# ---- the sync server ------------------------------------------------------------------
echo "== building outpost-server"
cargo build --locked -q -p outpost-server
server_bin="$root/target/debug/outpost-server"

work="$(mktemp -d)"
server_pid=""
stop_server() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=""
    rm -rf "$work"
}
trap stop_server EXIT

admin() { "$server_bin" --data-dir "$work/data" "$@" >/dev/null; }
invite() { "$server_bin" --data-dir "$work/data" invite "$1" --ttl-hours 1; }
# Yinhang street → comprehensive grid → grid G-650; a rider and three grid members of G-650.
admin grid add S-YH --name "殷行街道" --level street
admin grid add C-YH1 --name "殷行第一综合网格" --level comprehensive --parent S-YH
admin grid add G-650 --name "殷行路650弄网格" --level grid --parent C-YH1
admin member add rider-wang --name "王师傅" --role courier
admin member add gm-li --name "李网格员" --role grid_member --grid G-650
admin member add gm-zhao --name "赵网格员" --role grid_member --grid G-650
admin member add gm-sun --name "孙网格员" --role grid_member --grid G-650
# The photo story's two phones work grid G-651, so its cases stay out of the other stories.
admin grid add G-651 --name "开鲁路网格" --level grid --parent C-YH1
admin member add gm-qian --name "钱网格员" --role grid_member --grid G-651
admin member add gm-zhou --name "周网格员" --role grid_member --grid G-651
OUTPOST_TEST_GRID=G-650
OUTPOST_TEST_PHOTO_GRID=G-651
OUTPOST_TEST_INVITE_COURIER="$(invite rider-wang)"
OUTPOST_TEST_INVITE_MEMBER="$(invite gm-li)"
OUTPOST_TEST_INVITE_MEMBER2="$(invite gm-zhao)"
OUTPOST_TEST_INVITE_MEMBER3="$(invite gm-sun)"
OUTPOST_TEST_INVITE_PHOTOGRAPHER="$(invite gm-qian)"
OUTPOST_TEST_INVITE_VIEWER="$(invite gm-zhou)"
# The tests run admin subcommands too (revoke a phone, issue a new code).
OUTPOST_TEST_SERVER_BIN="$server_bin"
OUTPOST_TEST_SERVER_DATA="$work/data"
export OUTPOST_TEST_GRID OUTPOST_TEST_PHOTO_GRID OUTPOST_TEST_INVITE_COURIER OUTPOST_TEST_INVITE_MEMBER \
    OUTPOST_TEST_INVITE_MEMBER2 OUTPOST_TEST_INVITE_MEMBER3 OUTPOST_TEST_INVITE_PHOTOGRAPHER \
    OUTPOST_TEST_INVITE_VIEWER OUTPOST_TEST_SERVER_BIN \
    OUTPOST_TEST_SERVER_DATA

# Port 0: the server picks a free port and prints "outpost-server listening on http://...".
"$server_bin" --data-dir "$work/data" serve --listen 127.0.0.1:0 --grace-secs 1 \
    >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
OUTPOST_TEST_SERVER_URL=""
for _ in $(seq 1 300); do
    OUTPOST_TEST_SERVER_URL="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/server.out" 2>/dev/null | head -n 1 || true)"
    [ -n "$OUTPOST_TEST_SERVER_URL" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "kotlin suite: outpost-server exited before listening:" >&2
        cat "$work/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
[ -n "$OUTPOST_TEST_SERVER_URL" ] || { echo "kotlin suite: outpost-server did not start" >&2; exit 1; }
export OUTPOST_TEST_SERVER_URL
echo "== outpost-server on $OUTPOST_TEST_SERVER_URL (data in $work/data)"

# ---- the JVM tests ---------------------------------------------------------------------
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
if [ "$status" -ne 0 ]; then
    echo "-- outpost-server log (last 40 lines):" >&2
    tail -n 40 "$work/server.log" >&2 || true
fi
stop_server

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
