#!/usr/bin/env bash
# bindings/java/run-example.sh MODEL PROMPT N — builds the Java binding and its example
# (and the core library if needed, see bindings/core_lib.sh) and prints only the text
# generated greedily. Exits 77 when the JDK or JNA is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ $# -ne 3 ]; then echo "usage: $0 MODEL PROMPT N" >&2; exit 2; fi
cp="$(bash "$here/build.sh")"
lib="$(bash "$here/../core_lib.sh")"
exec java -Djna.library.path="$lib" -cp "$cp" Example "$1" "$2" "$3"
