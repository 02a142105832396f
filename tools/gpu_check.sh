#!/usr/bin/env bash
# tools/gpu_check.sh — the CUDA backend's check on a machine with an NVIDIA GPU: builds with
# -DLLM4ALL_CUDA=ON for this GPU, runs the op tests against the CPU backend
# (test_backend_ops), the golden tests with device="cuda", and `llm4all bench` pp512/tg128
# on the catalogue models, CPU and CUDA side by side. Results (logs, JSON) go under $OUT.
# usage: OUT=dir tools/gpu_check.sh      Models: $LLM4ALL_CACHE (default ~/.cache/llm4all/models)
# holding smollm2.gguf, qwen05.gguf, gemma3.gguf; test data: $LLM4ALL_TESTDATA (stories260K and
# the golden references, default ../shared/testdata or shared/testdata). Absent ones are skipped
# with a line saying so. CUDA_ARCHS (default native, which needs CMake 3.24; else e.g. 90) picks the GPU code.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OUT=${OUT:-$root/build/gpu_check}
mkdir -p "$OUT"
jobs=$(nproc 2>/dev/null || echo 4)
status=0
step() { echo "== $* ==" | tee -a "$OUT/summary.txt"; }
note() { echo "$*" | tee -a "$OUT/summary.txt"; }

step "device"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || note "nvidia-smi failed (no driver?)"
head -15 "$OUT/nvidia-smi.txt"

step "build (LLM4ALL_CUDA=ON, architectures ${CUDA_ARCHS:-native})"
start=$(date +%s)
if ! { cmake -S . -B build/gpu -DCMAKE_BUILD_TYPE=Release -DLLM4ALL_CUDA=ON -DLLM4ALL_VULKAN=OFF \
         -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-native}" -DLLM4ALL_BUILD_PYTHON=OFF &&
       cmake --build build/gpu -j"$jobs" --target llm4all test_backend_ops cuda_plugin_check cuda_dequant_check; } \
       > "$OUT/build.log" 2>&1; then
  note "BUILD FAILED (tail of build.log):"; tail -30 "$OUT/build.log" | tee -a "$OUT/summary.txt"; exit 1
fi
note "built in $(( $(date +%s) - start )) s"

step "cuda_plugin_check and test_backend_ops (every op against the CPU backend)"
for t in cuda_plugin_check cuda_dequant_check test_backend_ops; do
  build/gpu/bin/$t build/gpu/lib > "$OUT/$t.log" 2>&1 || status=1
  grep -E "device [0-9]|SKIP|FAIL|passed" "$OUT/$t.log" | head -60 | tee -a "$OUT/summary.txt"
done

step "Python module (for the golden tests and bench)"
if ! python3 -c "import pybind11" 2>/dev/null ||
   ! { cmake -S . -B build/gpu -DLLM4ALL_BUILD_PYTHON=ON && cmake --build build/gpu -j"$jobs" --target _core; } \
       >> "$OUT/build.log" 2>&1; then
  note "no Python module (pybind11 or Python headers missing? see build.log): golden tests and bench not run"
  exit $status
fi
# The package from the tree with the build's libraries (core, CPU and CUDA plugins, _core) in it.
pkg=$(mktemp -d)
cp -r bindings/python/llm4all "$pkg/"
cp build/gpu/lib/*.so "$pkg/llm4all/"
export PYTHONPATH=$pkg
models=${LLM4ALL_CACHE:-$HOME/.cache/llm4all/models}
testdata=${LLM4ALL_TESTDATA:-$root/../shared/testdata}
[ -d "$testdata" ] || testdata=$root/shared/testdata
export LLM4ALL_TESTDATA=$testdata
for m in smollm2 qwen05 gemma3; do
  [ -f "$models/$m.gguf" ] && export "LLM4ALL_${m^^}=$models/$m.gguf" || note "no $models/$m.gguf: its tests and bench skip"
done
python3 -m llm4all devices > "$OUT/devices.txt" 2>&1; cat "$OUT/devices.txt"

step "golden tests with device=cuda"
if python3 -c "import pytest, numpy" 2>/dev/null; then
  LLM4ALL_REQUIRE_DEVICES=cuda python3 -m pytest -q tests/python/test_golden.py -k "cuda" -rs \
    > "$OUT/golden.log" 2>&1 || status=1
  tail -15 "$OUT/golden.log" | tee -a "$OUT/summary.txt"
else
  note "pytest or numpy missing: golden tests not run"
fi

step "bench pp512/tg128 (CPU and CUDA)"
for f in "$testdata/models/stories260K.gguf" "${LLM4ALL_SMOLLM2:-}" "${LLM4ALL_QWEN05:-}" "${LLM4ALL_GEMMA3:-}"; do
  [ -n "$f" ] && [ -f "$f" ] || continue
  for dev in cuda cpu; do
    name=$(basename "$f" .gguf)-$dev
    timeout 300 python3 -m llm4all bench "$f" --device "$dev" -p 512 -n 128 -r 3 --json > "$OUT/bench-$name.json" \
      2> "$OUT/bench-$name.err" || { note "bench $name failed: $(tail -2 "$OUT/bench-$name.err")"; status=1; }
    note "bench $name: $(tr -d '\n' < "$OUT/bench-$name.json" | head -c 600)"
  done
done
rm -rf "$pkg"
note "exit status $status"
exit $status
