#!/usr/bin/env bash
# bindings/typescript/build.sh — installs the locked npm dependencies (koffi; typescript and
# @types/node for the build) when node_modules is missing or stale, then compiles with tsc
# into dist/ (the package, its example and its tests) when a source changed.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# tsc only when a source is newer than the last build (tsc itself takes seconds to start)
if [ ! -f dist/.tsbuildinfo ] || [ -n "$(find src test examples tsconfig.json package-lock.json -newer dist/.tsbuildinfo -print -quit)" ]; then
  npx --no-install tsc -p . && touch dist/.tsbuildinfo
fi
