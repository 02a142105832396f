#!/usr/bin/env bash
# bindings/java/build.sh — compiles the Java binding, its example and its tests with javac
# into build/bindings-java/classes (only when a source changed) and prints the classpath.
# Needs a JDK 17+ and JNA (Debian: libjna-java). Exits 77 when either is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
jna="${JNA_JAR:-/usr/share/java/jna.jar}"
if ! command -v javac >/dev/null || ! command -v java >/dev/null; then
  echo "bindings/java: skipped, no JDK (apt-get install openjdk-17-jdk-headless)" >&2; exit 77
fi
if [ ! -e "$jna" ]; then
  echo "bindings/java: skipped, JNA not found at $jna (apt-get install libjna-java, or set JNA_JAR)" >&2; exit 77
fi
out="$here/../../build/bindings-java"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stamp="$out/classes/.built"
if [ ! -e "$stamp" ] || [ -n "$(find "$here/src" "$here/test" "$here/example" -name '*.java' -newer "$stamp")" ]; then
  rm -rf "$out/classes"
  mkdir -p "$out/classes"
  javac -Xlint:all -Werror --release 17 -cp "$jna" -d "$out/classes" \
    $(find "$here/src" "$here/test" "$here/example" -name '*.java') >&2
  touch "$stamp"
fi
echo "$out/classes:$jna"
