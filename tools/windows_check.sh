#!/usr/bin/env bash
# tools/windows_check.sh — the Windows x64 build checked on Linux: cross-compiles the core
# DLL, every CPU plugin DLL and the C++ tests that run on Windows with MinGW-w64
# (cmake/mingw-w64.cmake), then runs them under Wine: the OS layer and plugin discovery
# (test_platform), GGUF loading through a file mapping (test_gguf), the memory estimate and
# limits (test_memory, test_limits), sessions, batches, sampling, tokenizers and templates,
# and llama.cpp's greedy text on stories260K through the C example program, from the best
# CPU variant, from each one forced, and with AVX-512 hidden (refusal and fallback).
# Takes about 3.5 min on 2 cores from a clean build folder (build ~200 s, tests ~10 s).
# Needs: apt-get install g++-mingw-w64-x86-64-posix wine64 (and shared/testdata).
# Usage: tools/windows_check.sh [build-dir]   (default build/win); exit status 1 on failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build/win}
JOBS=${JOBS:-2}
TESTDATA=${LLM4ALL_TESTDATA:-$(cd .. && pwd)/shared/testdata}
export WINEDEBUG=-all
export WINEPREFIX=${WINEPREFIX:-/tmp/llm4all-wine-$(id -u)}
WINE=$(command -v wine64 || ls /usr/lib/wine/wine64 2>/dev/null || command -v wine)
WINESERVER=$(command -v wineserver || ls /usr/lib/wine/wineserver64 2>/dev/null || ls /usr/lib/wine/wineserver 2>/dev/null)

# The tests that build for Windows: the others fork, dlopen by hand or use mkdtemp.
TESTS="test_platform test_gguf test_memory test_limits test_session test_batch test_sampler test_vocab test_jinja test_chat"

for tool in x86_64-w64-mingw32-g++-posix cmake; do
    command -v $tool >/dev/null || { echo "windows_check: $tool not found (apt-get install g++-mingw-w64-x86-64-posix)"; exit 1; }
done
[ -n "$WINE" ] || { echo "windows_check: wine64 not found (apt-get install wine64)"; exit 1; }
[ -f "$TESTDATA/models/stories260K.gguf" ] || { echo "windows_check: $TESTDATA/models/stories260K.gguf missing"; exit 1; }

t0=$(date +%s)
cmake -S . -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/mingw-w64.cmake" -DCMAKE_BUILD_TYPE=Release \
      -DLLM4ALL_VULKAN=OFF -DLLM4ALL_CUDA=OFF -DLLM4ALL_METAL=OFF -DLLM4ALL_BUILD_PYTHON=OFF \
      -DLLM4ALL_TESTDATA="$TESTDATA" >"$BUILD.configure.log" 2>&1 \
    || { tail -30 "$BUILD.configure.log"; echo "windows_check: configure failed"; exit 1; }
# shellcheck disable=SC2086
cmake --build "$BUILD" -j"$JOBS" --target llm4all llm4all-generate $TESTS >"$BUILD.build.log" 2>&1 \
    || { grep -E "error|Error" "$BUILD.build.log" | head -40; echo "windows_check: build failed"; exit 1; }
t1=$(date +%s)
echo "windows_check: built in $((t1 - t0)) s ($BUILD.build.log)"

# One wineserver for the whole run (a program started while the last one's server shuts
# down can fail with "wine client error"); stopped at exit. Wine's first start in a fresh
# prefix sets the prefix up (half a minute); not counted as a test.
# TMPDIR (the tests' own files) is set first: Wine finds its server's socket under it.
export TMPDIR=$(mktemp -d /tmp/llm4all-wincheck.XXXXXX)
trap '[ -n "$WINESERVER" ] && "$WINESERVER" -k >/dev/null 2>&1; rm -rf "$TMPDIR"' EXIT
[ -n "$WINESERVER" ] && "$WINESERVER" -p >/dev/null 2>&1
"$WINE" cmd /c exit >/dev/null 2>&1
t2=$(date +%s)

BIN="$BUILD/lib"   # the core, its plugins and the programs share one folder on Windows
ls "$BIN"/*llm4all-cpu-*.dll >/dev/null 2>&1 || { echo "windows_check: no CPU plugin DLLs in $BIN"; exit 1; }
# Wine sees / as Z:, so Linux paths work as they are.
export LLM4ALL_TESTDATA="$TESTDATA"
# The malformed-GGUF corpus (written by the script the Linux ctest uses) for test_gguf,
# and the model cache (smollm2 for test_limits, tokenizer vectors for test_vocab) if there.
if command -v python3 >/dev/null && python3 tests/python/bad_gguf.py "$BUILD/bad_gguf" \
        --base "$TESTDATA/models/stories260K.gguf" >"$BUILD/bad_gguf.log" 2>&1; then
    export LLM4ALL_BAD_GGUF_DIR="$(cd "$BUILD" && pwd)/bad_gguf"
fi
export LLM4ALL_CACHE=${LLM4ALL_CACHE:-$HOME/.cache/llm4all/models}
pass=0
failed=""
run() {   # name, then the command; output kept in $BUILD/<name>.log
    local name=$1; shift
    local start=$(date +%s)
    if "$@" >"$BUILD/$name.log" 2>&1; then
        pass=$((pass + 1)); status=ok
    else
        failed="$failed $name"; status=FAILED
    fi
    printf '  %-16s %-6s %3d s  %s\n' "$name" "$status" $(($(date +%s) - start)) \
        "$(grep -oE '[0-9]+ (checks )?passed, [0-9]+ failed' "$BUILD/$name.log" | tail -1)"
}
echo "windows_check: running under $($WINE --version 2>/dev/null)"
for t in $TESTS; do run "$t" "$WINE" "$BIN/$t.exe"; done
# The golden continuation: llama.cpp's greedy text for the first case of
# golden/stories260K.greedy16.json, printed after its prompt.
golden_case() {
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["cases"][0][sys.argv[2]], end="")' \
        "$TESTDATA/golden/stories260K.greedy16.json" "$1"
}
GOLDEN_PROMPT=$(golden_case prompt) GOLDEN_TEXT=$(golden_case text)
export GOLDEN_PROMPT GOLDEN_TEXT
golden() {
    "$WINE" "$BIN/llm4all-generate.exe" "$TESTDATA/models/stories260K.gguf" "$GOLDEN_PROMPT" 16 | tee /dev/stderr |
        grep -qF "$GOLDEN_PROMPT$GOLDEN_TEXT"
}
run example_generate golden
# The same text from each CPU variant forced (each DLL's kernels under the Windows x64 ABI);
# one this CPU cannot run must be refused by its score (CPUID read by score.cpp), not crash.
for v in generic avx2 avx512 avx512-vnni; do
    [ -f "$BIN/libllm4all-cpu-$v.dll" ] || [ -f "$BIN/llm4all-cpu-$v.dll" ] || continue
    if LLM4ALL_CPU_VARIANT=$v "$WINE" "$BIN/test_platform.exe" 2>&1 | grep -q "selected: cpu-$v,"; then
        run "variant_$v" env LLM4ALL_CPU_VARIANT=$v bash -c "$(declare -f golden); WINE='$WINE' BIN='$BIN' TESTDATA='$TESTDATA' golden"
    else
        run "variant_$v" env LLM4ALL_CPU_VARIANT=$v bash -c "'$WINE' '$BIN/llm4all-generate.exe' '$TESTDATA/models/stories260K.gguf' x 2 2>&1 | grep -q 'cannot run here'"
    fi
done
# A feature hidden (LLM4ALL_CPU_HIDE): the variants needing it are refused with the reason,
# and the run falls back to the next one.
refused() {
    LLM4ALL_CPU_HIDE=avx512f LLM4ALL_CPU_VARIANT=avx512 "$WINE" "$BIN/llm4all-generate.exe" \
        "$TESTDATA/models/stories260K.gguf" x 2 2>&1 | tee /dev/stderr | grep -q "cannot run here.*hidden by LLM4ALL_CPU_HIDE"
}
run hidden_refused refused
run hidden_fallback env LLM4ALL_CPU_HIDE=avx512f bash -c "$(declare -f golden); WINE='$WINE' BIN='$BIN' TESTDATA='$TESTDATA' golden"
t3=$(date +%s)

echo "windows_check: $pass passed, $(echo $failed | wc -w) failed${failed:+ (}${failed# }${failed:+)};" \
     "build $((t1 - t0)) s, Wine start $((t2 - t1)) s, tests $((t3 - t2)) s"
for f in $failed; do echo "---- $f"; tail -20 "$BUILD/$f.log"; done
[ -z "$failed" ]
