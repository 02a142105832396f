#!/usr/bin/env bash
# bindings/go/test.sh — go vet and go test for the Go binding, linked against the core
# library that bindings/core_lib.sh provides. Exits 77 when the Go toolchain is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v go >/dev/null; then
  echo "bindings/go: skipped, the Go toolchain is missing (apt-get install golang-go)" >&2
  exit 77
fi
lib="$(bash "$here/../core_lib.sh")"
export CGO_LDFLAGS="-L$lib -Wl,-rpath,$lib" GOPROXY=off GOFLAGS=-mod=mod
cd "$here"
go vet ./...
go test -count=1 "$@" ./...
