#!/usr/bin/env bash
# The reliability suite at its full sizes (the README's Reliability section): 500 payments through
# ten kill -9s, every endpoint dark for two minutes while 200 payments land, and the property tests
# at 100,000 cases. `scripts/test.sh` runs the same tests at their quick sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-tools.sh
export PAYSCAN_CHAOS_FULL=1 PROPTEST_CASES="${PROPTEST_CASES:-100000}"
started=$(date +%s)
cargo test --workspace --lib --locked "$@" -- proptest
cargo test --test e2e --locked "$@" -- --nocapture --test-threads 2 \
    chaos:: rpc_faults::a_blackout_of_every_endpoint_loses_no_payment_and_skips_no_block
echo "chaos: full sizes done in $(( $(date +%s) - started ))s"
