#!/usr/bin/env bash
# The app's shared Compose screens (android/screens), rendered headless on the JVM with
# Compose Multiplatform's desktop artifacts (skiko's software renderer) and clicked through
# their semantics, against the real liboutpost_ffi through the generated bindings and a real
# outpost-server on 127.0.0.1. Stories: a courier's flag in one tap (two to open it), a lead
# accepting and dispatching, a responder seeing only its unit's cases, two members filling
# one checklist with the conflict shown, core's refusals shown as text. Every screen a story
# passes is saved in Chinese and English under target/screenshots/<story>/. Also the
# Android app's plain-Kotlin glue (sync decisions, token sealing).
#
# Needs a JDK (17+), Maven and a CJK font (Debian's fonts-wqy-microhei, installed when
# missing: without it Chinese renders as boxes).
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(pwd)"

for tool in cargo java mvn; do
    command -v "$tool" >/dev/null || { echo "android-screens suite: '$tool' is required" >&2; exit 1; }
done

if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    echo "== installing a CJK font (fonts-wqy-microhei)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq fonts-wqy-microhei >/dev/null 2>&1 \
        || { apt-get update -qq >/dev/null && apt-get install -y -qq fonts-wqy-microhei >/dev/null; }
    fc-list :lang=zh | grep -q . || { echo "android-screens suite: no CJK font after installing one" >&2; exit 1; }
fi

lib_dir="$root/$(scripts/build-bindings.sh | tail -n 1)"
generated="$root/target/uniffi/kotlin"

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
# One grid per story, so that no story sees another's cases; two responder units.
admin grid add S-YH --name "殷行街道" --level street
admin grid add C-YH1 --name "殷行第一综合网格" --level comprehensive --parent S-YH
admin grid add G-650 --name "殷行路650弄网格" --level grid --parent C-YH1
admin grid add G-651 --name "殷行路651弄网格" --level grid --parent C-YH1
admin grid add G-652 --name "殷行路652弄网格" --level grid --parent C-YH1
admin grid add G-653 --name "殷行路653弄网格" --level grid --parent C-YH1
admin unit add U-FIRE --name "殷行消防救援站"
admin unit add U-CITY --name "殷行城管中队"
members=(
    "rider-wang:王师傅:courier:--grid G-650"
    "rider-sun:孙师傅:courier:--grid G-651"
    "lead-zhang:张站长:grid_lead:--grid G-651"
    "resp-fire:周队长:responder:--unit U-FIRE"
    "resp-city:钱队员:responder:--unit U-CITY"
    "gm-li:李网格员:grid_member:--grid G-652"
    "gm-zhao:赵网格员:grid_member:--grid G-652"
    "rider-chen:陈师傅:courier:--grid G-653"
    "lead-wu:吴站长:grid_lead:--grid G-653"
    "rider-zhou:周师傅:courier:--grid G-650"
)
for m in "${members[@]}"; do
    IFS=: read -r id name role scope <<<"$m"
    # shellcheck disable=SC2086 # scope is "--grid X" or "--unit Y"
    admin member add "$id" --name "$name" --role "$role" $scope
    var="OUTPOST_INVITE_$(tr 'a-z-' 'A-Z_' <<<"$id")"
    export "$var=$("$server_bin" --data-dir "$work/data" invite "$id" --ttl-hours 1)"
done

"$server_bin" --data-dir "$work/data" serve --listen 127.0.0.1:0 --grace-secs 1 \
    >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
OUTPOST_TEST_SERVER_URL=""
for _ in $(seq 1 300); do
    OUTPOST_TEST_SERVER_URL="$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$work/server.out" 2>/dev/null | head -n 1 || true)"
    [ -n "$OUTPOST_TEST_SERVER_URL" ] && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "android-screens suite: outpost-server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$OUTPOST_TEST_SERVER_URL" ] || { echo "android-screens suite: outpost-server did not start" >&2; exit 1; }
export OUTPOST_TEST_SERVER_URL
echo "== outpost-server on $OUTPOST_TEST_SERVER_URL"

project="$root/android/screens"
reports="$project/target/surefire-reports"
shots="$root/target/screenshots"
rm -rf "$reports" "$shots"

echo "== mvn test (android/screens: shared screens on Compose for desktop, stories, Android glue)"
# OUTPOST_SCREENS_TEST=ChecklistConflictStory runs one story (Surefire's -Dtest).
only=()
[ -n "${OUTPOST_SCREENS_TEST:-}" ] && only=(-Dtest="$OUTPOST_SCREENS_TEST")
set +e
(cd "$project" && mvn -q -B -Dstyle.color=never clean test "${only[@]}" \
    -Djna.library.path="$lib_dir" -Doutpost.generated="$generated" -Doutpost.shots="$shots" 2>&1) \
    | sed -u 's/\x1b\[[0-9;]*m//g' | grep -v --line-buffered '^JNA: could not detach thread$'
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
    echo "-- outpost-server log (last 30 lines):" >&2
    tail -n 30 "$work/server.log" >&2 || true
fi
stop_server

total=0 failures=0 errors=0 skipped=0
if compgen -G "$reports/TEST-*.xml" >/dev/null; then
    for f in "$reports"/TEST-*.xml; do
        head=$(grep -m1 -o '<testsuite [^>]*>' "$f")
        attr() { echo "$head" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*'; }
        total=$((total + $(attr tests)))
        failures=$((failures + $(attr failures)))
        errors=$((errors + $(attr errors)))
        skipped=$((skipped + $(attr skipped)))
    done
fi
if [ -d "$shots" ]; then
    echo "== screenshots ($(find "$shots" -name '*.png' | wc -l) files under target/screenshots)"
    (cd "$shots" && find . -name '*.png' | sort | sed 's|^\./|   |')
fi
echo "Results: Tests run: $total, Failures: $failures, Errors: $errors, Skipped: $skipped"
if [ "$failures" -ne 0 ] || [ "$errors" -ne 0 ]; then
    # Again after the screenshot list, so that the reason is in the suite's last lines.
    echo "== failed tests (from $reports)"
    grep -h -B1 -A6 '<failure\|<error' "$reports"/TEST-*.xml | cut -c1-400 | head -n 40
fi
if [ "$status" -ne 0 ] || [ "$total" -eq 0 ] || [ "$failures" -ne 0 ] || [ "$errors" -ne 0 ]; then
    echo "android-screens suite: FAILED" >&2
    exit 1
fi
echo "android-screens suite: passed"
