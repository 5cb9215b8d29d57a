#!/usr/bin/env bash
# The server's test suites again, on PostgreSQL, plus the tests only PostgreSQL can run:
# two server processes as one, the feed's gap test, and the storage contract on PostgreSQL. Installs PostgreSQL (Debian's
# package) when it is missing, runs a throwaway cluster in a temporary directory on a free
# loopback port, and removes it afterwards.
#
# `postgres.sh bench` runs the load benchmark (tests/benches/load.rs, release build) instead,
# with the cluster fsyncing every commit like a real one, so that SQLite (synchronous=FULL)
# and PostgreSQL are compared at the same durability.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE=${1:-test}

find_bin() {
    if command -v "$1" >/dev/null 2>&1; then
        command -v "$1"
        return
    fi
    ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(find_bin initdb)" ]; then
    echo "-- installing PostgreSQL"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
fi
INITDB=$(find_bin initdb)
PG_CTL=$(find_bin pg_ctl)
[ -n "$INITDB" ] && [ -n "$PG_CTL" ] || { echo "PostgreSQL binaries not found" >&2; exit 1; }

# PostgreSQL refuses to run as root: run it as the postgres user (or a throwaway one).
run_pg() { "$@"; }
PG_USER=$(id -un)
if [ "$(id -u)" = 0 ]; then
    PG_USER=postgres
    id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home "$PG_USER"
    run_pg() { runuser -u "$PG_USER" -- "$@"; }
fi

WORK=$(mktemp -d /tmp/outpost-pg.XXXXXX)
chmod 755 "$WORK"
mkdir "$WORK/data" "$WORK/sock"
chown "$PG_USER" "$WORK" "$WORK/data" "$WORK/sock"
cleanup() {
    run_pg "$PG_CTL" -D "$WORK/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
    || echo $((20000 + RANDOM % 20000)))
run_pg "$INITDB" -D "$WORK/data" -U outpost --auth=trust -E UTF8 --no-locale >/dev/null
# Throwaway cluster: durability off (fsync) to keep the suite quick; the server itself does
# not rely on it. The benchmark keeps PostgreSQL's defaults (fsync on every commit).
DURABILITY="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [ "$MODE" = bench ]; then DURABILITY="-c shared_buffers=256MB"; fi
run_pg "$PG_CTL" -D "$WORK/data" -l "$WORK/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$WORK/sock -c max_connections=400 $DURABILITY" \
    start >/dev/null || { cat "$WORK/postgres.log" >&2; exit 1; }

export OUTPOST_TEST_DATABASE="postgres://outpost@127.0.0.1:$PORT/postgres"
echo "-- PostgreSQL $("$PG_CTL" --version | awk '{print $3}') on 127.0.0.1:$PORT"
if [ "$MODE" = bench ]; then
    cargo bench -p outpost-tests --locked --bench load
    exit 0
fi
cargo test -p outpost-tests --locked \
    --test sync_stories --test sync_access --test sync_admin --test sync_cutoff --test sync_wire \
    --test blob_access --test blob_transfer --test quarantine --test console \
    --test pg_cluster --test pg_photos
# The storage contract's PostgreSQL half (ignored by a plain `cargo test`).
cargo test -p outpost-tests --locked --test storage_contract -- --ignored
