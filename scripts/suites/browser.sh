#!/usr/bin/env bash
# The workstation console in a real browser: Debian's headless Chromium driven by
# playwright-core (from npm, pinned by tests/browser/package-lock.json) against a real
# outpost-server process on loopback with SQLite, and the `outpost` CLI as the phones.
# Installs Chromium, a CJK font and the npm package when they are missing. Screenshots of
# each page in zh-Hans and en go to target/screenshots/console/.
#
# `browser.sh perf` measures instead: page weight and time to interactive of the queue with
# 1,000 open cases, beside an empty queue in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-test}
started=$(date +%s)

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
fc-list 2>/dev/null | grep -qi "wenquanyi\|noto sans cjk" || need_apt+=(fonts-wqy-microhei)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "-- installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

NODE_DIR=target/browser-node
mkdir -p "$NODE_DIR"
if ! cmp -s tests/browser/package-lock.json "$NODE_DIR/package-lock.json" \
    || [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
    echo "-- installing playwright-core from the lockfile"
    cp tests/browser/package.json tests/browser/package-lock.json "$NODE_DIR/"
    (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

echo "-- building outpost-server and outpost"
cargo build --locked -q -p outpost-server -p outpost-cli

export OUTPOST_SERVER="$PWD/target/debug/outpost-server"
export OUTPOST_CLI="$PWD/target/debug/outpost"
export OUTPOST_NODE_MODULES="$PWD/$NODE_DIR/node_modules"
export OUTPOST_SHOTS="$PWD/target/screenshots/console"
case "$MODE" in
    test) node tests/browser/console.test.mjs ;;
    perf) node tests/browser/queue_perf.mjs ;;
    *) echo "usage: browser.sh [test|perf]" >&2; exit 2 ;;
esac
echo "-- browser suite ($MODE) took $(( $(date +%s) - started )) s"
