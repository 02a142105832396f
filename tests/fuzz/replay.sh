#!/usr/bin/env bash
# replay.sh FUZZER DIR — runs a fuzz target once over every file in DIR (its crash
# regressions or its seeds): libFuzzer executes each file given on its command line and fails on
# the first crash, leak, timeout or sanitizer report.
set -euo pipefail
bin=$1 dir=$2
shopt -s nullglob
files=("$dir"/*)
if [ ${#files[@]} -eq 0 ]; then echo "no files in $dir"; exit 0; fi
exec "$bin" -timeout=25 -rss_limit_mb=4096 "${files[@]}"
