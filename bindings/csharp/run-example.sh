#!/usr/bin/env bash
# bindings/csharp/run-example.sh MODEL PROMPT N — builds the C# binding and its example (and the
# core library if needed, see bindings/core_lib.sh) and prints only the text generated
# greedily. Exits 77 when Mono (mcs, mono) is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ne 3 ]; then echo "usage: $0 MODEL PROMPT N" >&2; exit 2; fi
if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then
  echo "run-example.sh: Mono is missing (apt-get install mono-mcs mono-devel)" >&2
  exit 77
fi
lib="$(bash "$here/../core_lib.sh")"
bash "$here/build.sh" >&2
LLM4ALL_LIB_DIR="$lib" LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec mono "$here/build/generate.exe" "$1" "$2" "$3"
