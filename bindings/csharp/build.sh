#!/usr/bin/env bash
# bindings/csharp/build.sh — compiles the C# binding with Mono's mcs into build/: the library
# (Llm4all.dll), the example (generate.exe) and the test runner (Llm4all.Tests.exe), each only
# when a source is newer. The sources are netstandard2.0-compatible C# 7.2, so the .NET SDK
# builds them too.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/build"
mkdir -p "$out"
cd "$here"
# stale OUTPUT SOURCE...: true when OUTPUT is missing or older than a source
stale() {
  local o="$1"; shift
  [ ! -e "$o" ] && return 0
  [ -n "$(find "$@" -newer "$o" -print -quit)" ]
}
if stale "$out/Llm4all.dll" src; then
  mcs -nologo -langversion:7.2 -target:library -out:"$out/Llm4all.dll" -doc:"$out/Llm4all.xml" -nowarn:1591 src/*.cs
fi
if stale "$out/generate.exe" examples "$out/Llm4all.dll"; then
  mcs -nologo -langversion:7.2 -out:"$out/generate.exe" -r:"$out/Llm4all.dll" examples/Generate.cs
fi
if stale "$out/Llm4all.Tests.exe" tests "$out/Llm4all.dll"; then
  mcs -nologo -langversion:7.2 -out:"$out/Llm4all.Tests.exe" -r:"$out/Llm4all.dll" -r:System.Json -r:System.Core tests/*.cs
fi
