#!/usr/bin/env bash
# bindings/typescript/run-example.sh MODEL PROMPT N — builds the TypeScript binding and its
# example (and the core library if needed, see bindings/core_lib.sh) and prints only the text
# generated greedily. Exits 77 when Node (node, npm) is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ne 3 ]; then echo "usage: $0 MODEL PROMPT N" >&2; exit 2; fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "run-example.sh: Node.js is missing (Node 20 and npm)" >&2
  exit 77
fi
lib="$(bash "$here/../core_lib.sh")"
bash "$here/build.sh" >&2
LLM4ALL_LIB_DIR="$lib" exec node "$here/dist/examples/generate.js" "$1" "$2" "$3"
