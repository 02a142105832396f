#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS [TARGET...] — builds the libFuzzer targets with clang
# (ASan+UBSan, own build dir build/fuzz), replays every committed crash regression
# (ctest), then runs each target (all fuzz_*.cpp and the atheris py_*.py, or those
# named) for SECONDS on a scratch copy of its seed corpus with its dictionary, one at
# a time. The Python targets need atheris and llm4all importable by $LLM4ALL_FUZZ_PYTHON
# (default python3); without them they are skipped with the reason. Prints
# executions, coverage and features per target; exits non-zero when a target
# crashes, leaks, hangs (-timeout) or blows its memory limit, leaving the input
# under build/fuzz/artifacts/<target>/ (add it to regressions/<target>/ once fixed).
# Environment: LLM4ALL_FUZZ_BUILD (build dir), LLM4ALL_FUZZ_JOBS (build jobs),
# LLM4ALL_BACKEND_PATH (a build's lib/ with the CPU plugin, for fuzz_chat_json;
# default: build/release/lib or the first build/*/lib that has one).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}
shift
build=${LLM4ALL_FUZZ_BUILD:-build/fuzz}
here=tests/fuzz

if ! command -v clang++ >/dev/null; then
  echo "tests/fuzz/run.sh: clang++ not found (Debian: apt-get install clang)" >&2
  exit 1
fi
echo "== fuzz targets: build with clang (libFuzzer, ASan, UBSan) in $build =="
cmake -S $here -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build "$build" -j "${LLM4ALL_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"

if [ -z "${LLM4ALL_BACKEND_PATH:-}" ]; then
  for d in build/release/lib build/*/lib; do
    if compgen -G "$d/libllm4all-cpu-*.so" >/dev/null; then export LLM4ALL_BACKEND_PATH=$PWD/$d; break; fi
  done
fi

echo "== replay the crash regressions (ctest) =="
ctest --test-dir "$build" --output-on-failure

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in $here/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
  for src in $here/py_*.py; do targets+=("$(basename "$src" .py)"); done
fi

declare -A dict=([fuzz_gguf]=gguf [fuzz_gguf_meta]=gguf [fuzz_lora]=gguf [fuzz_jinja]=jinja [fuzz_chat_json]=json)
failed=()
summary=""
for t in "${targets[@]}"; do
  if [ "$t" = fuzz_chat_json ] && [ -z "${LLM4ALL_BACKEND_PATH:-}" ]; then
    echo "skipped: $t needs a CPU backend plugin: build the release tree first or set LLM4ALL_BACKEND_PATH"
    summary+=$(printf '%-20s skipped (no backend plugin)' "$t")$'\n'
    continue
  fi
  py=${LLM4ALL_FUZZ_PYTHON:-python3}
  if [[ $t == py_* ]]; then
    if ! why=$("$py" -c "import atheris, llm4all" 2>&1); then
      echo "skipped: $t needs atheris and llm4all for $py: ${why##*$'\n'}"
      summary+=$(printf '%-20s skipped (atheris or llm4all missing)' "$t")$'\n'
      continue
    fi
    cmd=("$py" "$here/$t.py")
    # ctest replays the C targets' regressions; the Python targets' are replayed here.
    if compgen -G "$here/regressions/$t/*" >/dev/null; then
      echo "== $t: replay regressions =="
      "${cmd[@]}" -timeout=25 "$here"/regressions/$t/* || { failed+=("$t(regressions)"); continue; }
    fi
  else
    cmd=("$build/$t")
  fi
  echo "== $t: ${secs}s =="
  work="$build/corpus/$t"
  mkdir -p "$work" "$build/artifacts/$t"
  cp -n $here/corpus/$t/* "$work/" 2>/dev/null || true
  extra=()
  [ -n "${dict[$t]:-}" ] && extra+=("-dict=$here/dict/${dict[$t]}.dict")
  seeds=()
  [ "$t" = fuzz_jinja ] && seeds+=(tests/python/chat_templates)
  [ "$t" = fuzz_gguf ] || [ "$t" = fuzz_gguf_meta ] && extra+=(-max_len=65536)
  log="$build/$t.log"
  rc=0
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb / -malloc_limit_mb: a
  # memory blow-up is a finding too. LeakSanitizer runs at the end of the run.
  nice -n 10 "${cmd[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t/" "${extra[@]}" "$work" "${seeds[@]}" \
    >"$log" 2>&1 || rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  line=$(printf '%-20s %10s execs  cov %6s  ft %7s  corpus %5s' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if [ "$rc" -ne 0 ]; then
    line+="  FAILED (exit $rc, log $log)"
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|runtime error|Test unit written|==[0-9]+==' "$log" | head -20 || true
    tail -n 30 "$log"
  fi
  echo "$line"
  summary+="$line"$'\n'
done
echo "== fuzz summary (${secs}s per target) =="
printf '%s' "$summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz targets that failed: ${failed[*]}" >&2
  exit 1
fi
