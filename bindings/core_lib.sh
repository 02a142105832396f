#!/usr/bin/env bash
# bindings/core_lib.sh — prints the directory holding libllm4all.so and its CPU backend
# plugins, for the Go, Java, C# and TypeScript bindings: $LLM4ALL_LIB_DIR if set, else
# build/bindings/lib, brought up to date on every call (only the core and its plugins: no
# tests, no Python; a no-op when nothing changed, so a core change never meets a stale library).
# Build output goes to stderr so that callers can write LIB=$(bash bindings/core_lib.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -n "${LLM4ALL_LIB_DIR:-}" ]; then
  if [ ! -e "$LLM4ALL_LIB_DIR/libllm4all.so" ]; then
    echo "core_lib.sh: LLM4ALL_LIB_DIR=$LLM4ALL_LIB_DIR has no libllm4all.so" >&2
    exit 1
  fi
  cd "$LLM4ALL_LIB_DIR" && pwd
  exit 0
fi
build="$root/build/bindings"
if [ ! -e "$build/CMakeCache.txt" ]; then
  echo "core_lib.sh: configuring the core library build in $build" >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DLLM4ALL_BUILD_TESTS=OFF \
        -DLLM4ALL_BUILD_PYTHON=OFF >&2
fi
# The llm4all target depends on every CPU plugin, so this builds them too.
cmake --build "$build" -j "${LLM4ALL_BUILD_JOBS:-2}" --target llm4all >&2
echo "$build/lib"
