#!/usr/bin/env bash
# Runs every payscan test: unit tests and the end-to-end suite against real anvil chains, SQLite
# and the PostgreSQL server at 127.0.0.1:5432 (override with PAYSCAN_TEST_POSTGRES).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh
cargo test --workspace --all-targets --locked "$@"
