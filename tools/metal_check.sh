#!/usr/bin/env bash
# tools/metal_check.sh — the Metal backend's first check, on a Mac (it has never run on
# one): builds with -DLLM4ALL_METAL=ON, compiles every kernel variant offline when Xcode's
# Metal compiler is there, runs the op tests against the CPU backend (test_backend_ops,
# shared and private storage), lists the devices, and compares greedy text and
# `llm4all bench` pp512/tg128 between device=metal and the CPU. Results under $OUT.
# usage: OUT=dir tools/metal_check.sh     Models: $LLM4ALL_CACHE (default ~/.cache/llm4all/models)
# holding smollm2.gguf, qwen05.gguf, gemma3.gguf; stories260K from $LLM4ALL_TESTDATA
# (default ../shared/testdata or shared/testdata). Absent ones are skipped with a line saying so.
# Written for macOS's bash 3.2.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OUT=${OUT:-$root/build/metal_check}
mkdir -p "$OUT"
jobs=$(sysctl -n hw.ncpu 2>/dev/null || nproc 2>/dev/null || echo 4)
status=0
step() { echo "== $* ==" | tee -a "$OUT/summary.txt"; }
note() { echo "$*" | tee -a "$OUT/summary.txt"; }
# macOS has no `timeout` unless coreutils are installed: then without a limit.
limit() { if command -v timeout > /dev/null; then timeout "$@"; else shift; "$@"; fi; }

step "system"
{ sw_vers; system_profiler SPDisplaysDataType 2>/dev/null | head -20; } > "$OUT/system.txt" 2>&1
cat "$OUT/system.txt"

step "build (LLM4ALL_METAL=ON)"
if ! { cmake -S . -B build/metal-check -DCMAKE_BUILD_TYPE=Release -DLLM4ALL_METAL=ON -DLLM4ALL_VULKAN=OFF \
         -DLLM4ALL_CUDA=OFF -DLLM4ALL_BUILD_PYTHON=OFF &&
       cmake --build build/metal-check -j"$jobs" --target llm4all test_backend_ops; } > "$OUT/build.log" 2>&1; then
  note "BUILD FAILED (tail of build.log):"; tail -40 "$OUT/build.log" | tee -a "$OUT/summary.txt"; exit 1
fi
lib=build/metal-check/lib

step "offline compile of every kernel variant (needs Xcode's metal compiler)"
if xcrun -sdk macosx -f metal > /dev/null 2>&1; then
  cmake --build build/metal-check -j"$jobs" --target llm4all-metal-check > "$OUT/kernels.log" 2>&1 || status=1
  grep -E "error|warning" "$OUT/kernels.log" | head -40 | tee -a "$OUT/summary.txt"
else
  note "no offline Metal compiler (xcrun metal): kernels are checked only when the op tests compile them"
fi

step "test_backend_ops (every op against the CPU backend), shared storage, then private"
build/metal-check/bin/test_backend_ops "$lib" > "$OUT/ops.log" 2>&1 || status=1
grep -E "device [0-9]|SKIP|FAIL|passed" "$OUT/ops.log" | head -60 | tee -a "$OUT/summary.txt"
LLM4ALL_METAL_PRIVATE=1 build/metal-check/bin/test_backend_ops "$lib" > "$OUT/ops-private.log" 2>&1 || status=1
grep -E "SKIP|FAIL|passed" "$OUT/ops-private.log" | head -30 | tee -a "$OUT/summary.txt"

step "Python module (greedy text and bench)"
if ! python3 -c "import pybind11" 2>/dev/null ||
   ! { cmake -S . -B build/metal-check -DLLM4ALL_BUILD_PYTHON=ON &&
       cmake --build build/metal-check -j"$jobs" --target _core; } >> "$OUT/build.log" 2>&1; then
  note "no Python module (pybind11 or Python headers missing? see build.log): text and bench not run"
  exit $status
fi
pkg=$(mktemp -d)
cp -R bindings/python/llm4all "$pkg/"
cp "$lib"/*.so "$pkg/llm4all/" 2>/dev/null; cp "$lib"/*.dylib "$pkg/llm4all/" 2>/dev/null
export PYTHONPATH=$pkg
models=${LLM4ALL_CACHE:-$HOME/.cache/llm4all/models}
testdata=${LLM4ALL_TESTDATA:-$root/../shared/testdata}
[ -d "$testdata" ] || testdata=$root/shared/testdata
python3 -m llm4all devices > "$OUT/devices.txt" 2>&1; cat "$OUT/devices.txt" | tee -a "$OUT/summary.txt"

step "greedy text, metal vs cpu, and bench pp512/tg128"
for f in "$testdata/models/stories260K.gguf" "$models/smollm2.gguf" "$models/qwen05.gguf" "$models/gemma3.gguf"; do
  [ -f "$f" ] || { note "no $f: skipped"; continue; }
  name=$(basename "$f" .gguf)
  python3 - "$f" > "$OUT/text-$name.txt" 2>&1 <<'PY' || status=1
import sys
import llm4all
path = sys.argv[1]
texts = {}
for dev in ("cpu", "metal"):
    m = llm4all.Model(path, device=dev)
    out = m.generate("Once upon a time", max_tokens=48, temp=0.0, repeat_penalty=1.0)
    texts[dev] = out
    print(f"{dev}: {out!r}")
a, b = texts["cpu"], texts["metal"]
n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
print(f"texts agree on their first {n} characters of {len(a)}")
PY
  tail -1 "$OUT/text-$name.txt" | sed "s/^/$name: /" | tee -a "$OUT/summary.txt"
  for dev in metal cpu; do
    limit 600 python3 -m llm4all bench "$f" --device "$dev" -p 512 -n 128 -r 3 --json > "$OUT/bench-$name-$dev.json" \
      2> "$OUT/bench-$name-$dev.err" || { note "bench $name $dev failed: $(tail -2 "$OUT/bench-$name-$dev.err")"; status=1; }
    note "bench $name $dev: $(tr -d '\n' < "$OUT/bench-$name-$dev.json" | head -c 600)"
  done
done
rm -rf "$pkg"
note "exit status $status"
exit $status
