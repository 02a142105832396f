#!/usr/bin/env bash
# bindings/java/test.sh [NAME] — builds the Java binding and runs its tests (BindingTest's
# own small runner; NAME filters test methods). Exits 77 when the JDK or JNA is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rc=0; cp="$(bash "$here/build.sh")" || rc=$?
[ $rc -eq 0 ] || exit $rc
lib="$(bash "$here/../core_lib.sh")"
exec java -Djna.library.path="$lib" -Dllm4all.repo="$here/../.." -cp "$cp" llm4all.BindingTest "$@"
