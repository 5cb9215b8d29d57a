#!/usr/bin/env bash
# The mobile library's size budget (4 MiB stripped, arm64): scripts/mobile-release-size.sh
# builds it with the mobile release profile, prints what its bytes are spent on (sections,
# and code and data per crate) and fails above the budget. A fat-LTO build with std rebuilt
# by the pinned nightly (scripts/mobile-toolchain.sh): 6.5 minutes on 2 cores from nothing
# (measured 383 s, the nightly already installed), about one minute when only our crates
# changed, 1 s when nothing did.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec bash scripts/mobile-release-size.sh
