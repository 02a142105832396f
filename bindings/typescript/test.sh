#!/usr/bin/env bash
# bindings/typescript/test.sh — builds the TypeScript binding and runs its tests with node's
# test runner against the core library that bindings/core_lib.sh provides (--expose-gc lets
# the finalizer test force collections). Exits 77 when Node is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "bindings/typescript: skipped, Node.js is missing (Node 20 and npm)" >&2
  exit 77
fi
lib="$(bash "$here/../core_lib.sh")"
bash "$here/build.sh"
cd "$here"
LLM4ALL_LIB_DIR="$lib" exec node --expose-gc --test --test-concurrency=1 "$@" dist/test/*.test.js
