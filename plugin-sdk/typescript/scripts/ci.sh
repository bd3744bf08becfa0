#!/usr/bin/env bash
# Installs, builds and tests the TypeScript SDK (@convotic/block-sdk), checks that its protocol
# definitions match the repository's proto/ files, then installs and type-checks the modules
# written with it (plugins-example/erp-webhook-ts, tests/conformance/typescript) and checks
# that each loads and describes itself. Idempotent; run it from anywhere.
set -euo pipefail

SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$SDK_DIR/../.." && pwd)"
NPM_FLAGS=(--no-audit --no-fund)

step() { printf '\n== %s\n' "$*"; }

step "SDK: npm ci"
cd "$SDK_DIR"
npm ci "${NPM_FLAGS[@]}"

step "SDK: build (dist/ and the proto/ copies)"
npm run build

step "SDK: unit tests"
npm test

step "SDK: generated files are up to date"
npm run check-generated

# Modules that use the SDK through a file: dependency: install (a link to the SDK), type-check
# with the SDK's TypeScript, and print the manifest their registrations make.
check_module() {
  local dir="$1" file="$2"
  step "$dir: npm ci, type-check, manifest"
  cd "$REPO_DIR/$dir"
  npm ci "${NPM_FLAGS[@]}"
  "$SDK_DIR/node_modules/.bin/tsc" -p .
  node "$SDK_DIR/dist/cli.js" manifest "$file" > /dev/null
  echo "$dir: ok"
}

check_module plugins-example/erp-webhook-ts src/index.ts
check_module tests/conformance/typescript index.ts

step "all TypeScript SDK checks passed"
