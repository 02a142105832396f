#!/usr/bin/env bash
# bindings/go/run-example.sh MODEL PROMPT N — builds the Go example (and the core library
# if needed, see bindings/core_lib.sh) and prints only the text generated greedily.
# Exits 77 when the Go toolchain is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ne 3 ]; then echo "usage: $0 MODEL PROMPT N" >&2; exit 2; fi
if ! command -v go >/dev/null; then
  echo "run-example.sh: the Go toolchain is missing (apt-get install golang-go)" >&2
  exit 77
fi
lib="$(bash "$here/../core_lib.sh")"
export CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib" GOPROXY=off GOFLAGS=-mod=mod
bin="$here/../../build/bindings-go"
mkdir -p "$bin"
(cd "$here" && go build -o "$bin/llm4all-example" ./cmd/llm4all-example) >&2
exec "$bin/llm4all-example" "$1" "$2" "$3"
