#!/usr/bin/env bash
# tests/run.sh — the whole test suite, as CI runs it: C/C++ tests through ctest, the
# Windows build's under Wine (tools/windows_check.sh), all again under AddressSanitizer +
# UBSan + LeakSanitizer, the fuzz targets for
# 60 s each (tests/fuzz/run.sh, clang), the language bindings' tests (bindings/*/test.sh),
# then the Python package, built once as the wheel users get (tools/build_wheel.sh checks
# it in a compiler-less venv), installed and tested with pytest (the golden tests twice:
# best and generic CPU variant). Needs g++, clang, cmake and Python 3.9+.
# Real-model tests fetch their models into ~/.cache/llm4all (LLM4ALL_CACHE).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

# The core is compiled for Python once: as the wheel users get, checked in a fresh venv with no
# compiler (tools/build_wheel.sh), and that same wheel is what the Python tests below test.
echo "== the wheel: build, auditwheel, twine, smoke test without a compiler (tools/build_wheel.sh) =="
bash tools/build_wheel.sh build/wheelhouse
wheel=$(ls build/wheelhouse/llm4all-*.whl)

echo "== install the wheel with its test extra and fetch the catalogue models the tests compare against =="
python3 -m pip install -q --force-reinstall --no-deps "$wheel"   # same version as before: replace it anyway
python3 -m pip install -q "$wheel[test]"
python3 -m llm4all pull smollm2 gemma3 qwen05 qwen15 minilm embgemma
# The bindings' embedding tests read minilm as a GGUF, which pytest would otherwise convert
# only later: convert it now so that a fresh machine runs them instead of skipping.
python3 -c "from llm4all.embeddings import embedding_model_path; print(embedding_model_path('minilm'))"

echo "== C/C++ tests (ctest) =="
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$jobs"
ctest --test-dir build/release --output-on-failure
# The language bindings and their examples use this build's library (bindings/core_lib.sh).
export LLM4ALL_LIB_DIR="$PWD/build/release/lib"

echo "== the Windows x64 build: cross-compiled with MinGW-w64, its tests run under Wine (tools/windows_check.sh) =="
if command -v x86_64-w64-mingw32-g++-posix >/dev/null && { command -v wine64 >/dev/null || [ -x /usr/lib/wine/wine64 ]; }; then
  JOBS=$jobs bash tools/windows_check.sh build/win
elif [ -n "${LLM4ALL_REQUIRE_WINDOWS_CHECK:-}" ]; then
  echo "the Windows check needs g++-mingw-w64-x86-64-posix and wine64 (LLM4ALL_REQUIRE_WINDOWS_CHECK is set)" >&2
  exit 1
else
  echo "skipped: the Windows check needs g++-mingw-w64-x86-64-posix and wine64 (apt-get install them)"
fi

echo "== the whole C/C++ suite under AddressSanitizer + UBSan + LeakSanitizer (ctest) =="
# -fno-sanitize-recover (CMakeLists.txt): undefined behaviour fails the test; detect_leaks: so do leaks.
# CUDA is compiled (and its host-side checks run) in the release build; its kernels cannot
# run here, so the sanitizer build leaves it out.
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DLLM4ALL_SANITIZE=ON -DLLM4ALL_CUDA=OFF >/dev/null
cmake --build build/asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --test-dir build/asan --output-on-failure

echo "== fuzz targets, 60 s each, and their crash regressions (tests/fuzz/run.sh; docs/fuzzing.md) =="
LLM4ALL_BACKEND_PATH="$PWD/build/release/lib" bash tests/fuzz/run.sh 60

echo "== ABI drift: every llm4all.h function wrapped or listed in bindings/*/not_wrapped.txt =="
python3 tools/abi_drift.py

echo "== language bindings (bindings/*/test.sh; a missing toolchain skips with its reason) =="
for t in bindings/*/test.sh; do
  rc=0
  bash "$t" || rc=$?
  if [ "$rc" -eq 77 ]; then echo "skipped: $t (toolchain missing, reason above)"; elif [ "$rc" -ne 0 ]; then exit "$rc"; fi
done

echo "== Python tests (pytest) =="
python3 -m pytest -q tests/python "$@"

echo "== golden references again on the generic (no-AVX) CPU variant (pytest) =="
LLM4ALL_CPU_VARIANT=generic python3 -m pytest -q tests/python/test_golden.py -k cpu "$@"
