#!/usr/bin/env bash
# Builds the `outpost` CLI and the `outpost-server` of an earlier commit (default: the merge
# base with main) into target/baseline/outpost-<commit> and outpost-server-<commit>, for the
# same-run baselines of `cargo bench -p outpost-tests --bench sync` (sections cpu and
# memory): the older client syncs with the server of its own build. The build happens in
# a throwaway worktree with its own target directory, seeded from this one's release build
# so dependencies are not compiled again.
#
#   scripts/baseline-cli.sh [COMMIT]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
commit=$(git rev-parse --short "${1:-$(git merge-base HEAD main)}")
out="$root/target/baseline/outpost-$commit"
server="$root/target/baseline/outpost-server-$commit"
if [ -x "$out" ] && [ -x "$server" ]; then
    echo "$out"
    exit 0
fi
work=$(mktemp -d)
trap 'git worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/src" "$commit" >/dev/null
mkdir -p "$work/src/target"
if [ -d "$root/target/release" ]; then
    cp -a "$root/target/release" "$work/src/target/"
fi
(cd "$work/src" && cargo build --release --locked -p outpost-cli -p outpost-server >&2)
mkdir -p "$root/target/baseline"
cp "$work/src/target/release/outpost" "$out"
cp "$work/src/target/release/outpost-server" "$server"
echo "$out"
