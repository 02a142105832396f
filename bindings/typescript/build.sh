#!/usr/bin/env bash
# bindings/typescript/build.sh — installs the locked npm dependencies (koffi; typescript and
# @types/node for the build) when node_modules is missing or stale, then compiles with tsc
# into dist/ (the package, its example and its tests).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npx --no-install tsc -p .
