#!/usr/bin/env bash
# bindings/csharp/test.sh — builds the C# binding with mcs (also against netstandard2.0's baseline
# API) and runs its tests with mono against the core library that bindings/core_lib.sh provides.
# Exits 77 when Mono is missing.
# Arguments select tests by name (substring), e.g. test.sh ChatSessions.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then
  echo "bindings/csharp: skipped, Mono is missing (apt-get install mono-mcs mono-devel)" >&2
  exit 77
fi
lib="$(bash "$here/../core_lib.sh")"
bash "$here/build.sh"
# netstandard2.0's baseline: the library must compile against .NET Framework 4.6.1's reference API.
api=/usr/lib/mono/4.6.1-api
if [ -d "$api" ]; then
  mcs -nologo -langversion:7.2 -target:library -nostdlib -r:"$api/mscorlib.dll" -r:"$api/System.dll" \
      -r:"$api/System.Core.dll" -out:"$here/build/Llm4all.net461-check.dll" "$here"/src/*.cs
fi
LLM4ALL_LIB_DIR="$lib" LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec mono --debug "$here/build/Llm4all.Tests.exe" "$@"
