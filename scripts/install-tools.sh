#!/usr/bin/env bash
# Installs what payscan's dev chain and tests need, from the npm registry: anvil
# (@foundry-rs/anvil), solc-js and OpenZeppelin's contracts; then compiles contracts/src. From
# PyPI, into .tools/venv: schemathesis, which walks the OpenAPI document against a live server.
# Idempotent: does nothing when all are already up to date.
set -euo pipefail
cd "$(dirname "$0")/../contracts"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-tools: node and npm are needed (Node.js 18 or newer)" >&2
  exit 1
fi

stamp=node_modules/.payscan-package.json
if [ ! -f "$stamp" ] || ! cmp -s package.json "$stamp"; then
  # anvil's postinstall would download nothing we need: its binary ships in the platform package.
  npm install --no-audit --no-fund --ignore-scripts --loglevel=error
  cp package.json "$stamp"
fi

anvil=$(ls node_modules/@foundry-rs/anvil-*/bin/anvil 2>/dev/null | head -n1 || true)
if [ -z "$anvil" ]; then
  echo "install-tools: no anvil binary for this platform in @foundry-rs/anvil" >&2
  exit 1
fi

newest_source=$(ls -t src/*.sol compile.js package-lock.json | head -n1)
if [ ! -f out/TestToken.json ] || [ "$newest_source" -nt out/TestToken.json ]; then
  node compile.js
fi

schemathesis_version=4.32.5
venv=../.tools/venv
if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $schemathesis_version" ]; then
  if ! command -v python3 >/dev/null; then
    echo "install-tools: python3 (3.10 or newer, with venv) is needed for schemathesis" >&2
    exit 1
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$schemathesis_version"
fi
# openapi-spec-validator checks the committed openapi.json against the OpenAPI 3.1 specification.
validator_version=0.9.0
if [ "$("$venv/bin/pip" show openapi-spec-validator 2>/dev/null | sed -n 's/^Version: //p')" != "$validator_version" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check "openapi-spec-validator==$validator_version"
fi
echo "install-tools: $("$anvil" --version | head -n1), contracts compiled, $("$venv/bin/schemathesis" --version), openapi-spec-validator $validator_version"
