#!/usr/bin/env bash
# Runs every payscan test: unit tests and the end-to-end suite against real anvil chains, SQLite
# and the PostgreSQL server at 127.0.0.1:5432 (override with PAYSCAN_TEST_POSTGRES).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh
# A failing test's own message is what CI shows; a backtrace would push it out of view.
export RUST_BACKTRACE="${PAYSCAN_TEST_BACKTRACE:-0}"
cargo test --workspace --all-targets --locked "$@"
