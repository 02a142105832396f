"""tests/wheel/smoke.py — run by tools/build_wheel.sh with the Python of a fresh virtual
environment that holds only the installed wheel (no compiler on PATH, no source tree on
sys.path): what a user gets from `pip install llm4all`. Checks the CLI (`--version`, `run`
against llama.cpp's golden text, `devices`), the Python API, every CPU variant forced with
LLM4ALL_CPU_VARIANT, and the plugin folders of separately shipped backends (llm4all_*).

usage: python smoke.py MODEL.gguf [GOLDEN.json]
Without GOLDEN (cibuildwheel's runners have no shared test data) the reference text is the
Python API's own greedy output, which the CLI and every CPU variant must then reproduce.
"""
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

X86 = platform.machine().lower() in ("x86_64", "amd64")
VARIANTS = ["generic", "avx2", "avx512", "avx512-vnni"] if X86 else ["generic"]   # x86-64 wheels carry all four
# File names as CMake makes them: clang-cl's DLLs have no "lib" prefix.
if sys.platform == "win32":
    CORE, PLUGIN = "llm4all.dll", "llm4all-{}.dll"
else:
    CORE, PLUGIN = ("libllm4all.dylib" if sys.platform == "darwin" else "libllm4all.so"), "libllm4all-{}.so"
PROMPT, N = "Once upon a time", 16
COMPILERS = ["cc", "c++", "gcc", "g++", "clang", "clang++", "cmake", "ld", "make", "ninja"]

failures = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def cli(*args, variant=None):
    """Runs the installed `llm4all` script (the console entry point pip wrote)."""
    env = dict(os.environ)
    env.pop("LLM4ALL_CPU_VARIANT", None)
    if variant:
        env["LLM4ALL_CPU_VARIANT"] = variant
    exe = Path(sys.executable).parent / "llm4all"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env=env, timeout=300)


def main():
    model_path = sys.argv[1]
    golden = json.loads(Path(sys.argv[2]).read_text()) if len(sys.argv) > 2 else None
    case = golden["cases"][0] if golden else {"prompt": PROMPT, "tokens": [None] * N, "text": None}
    n = len(case["tokens"])

    # The environment is what the caller promises: the package from site-packages and, from
    # tools/build_wheel.sh (not cibuildwheel's build containers), no compiler on PATH.
    if os.environ.get("LLM4ALL_SMOKE_NO_COMPILER") == "1":
        check(all(shutil.which(c) is None for c in COMPILERS),
              f"no compiler on PATH ({', '.join(c for c in COMPILERS if shutil.which(c)) or 'none found'})")
    import llm4all
    from llm4all import _core
    pkg = Path(llm4all.__file__).resolve().parent
    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    check(pkg.parent == site, f"llm4all imported from the venv's site-packages ({pkg})")

    # One version everywhere: the wheel's metadata, the package, the C ABI, the CLI.
    meta = importlib.metadata.version("llm4all")
    r = cli("--version")
    check(meta == llm4all.__version__ == _core.version() and r.stdout.strip() == f"llm4all {meta}",
          f"one version: metadata {meta}, __version__ {llm4all.__version__}, llm4all_version() "
          f"{_core.version()}, CLI {r.stdout.strip()!r}")

    # The wheel's files: core, pybind11 module, headers, all four CPU variants.
    files = {Path(f).name for f in importlib.metadata.files("llm4all")}
    want_files = [CORE, "llm4all.h"] + [PLUGIN.format(f"cpu-{v}") for v in VARIANTS]
    check(all(f in files for f in want_files) and any(f.startswith("_core.") for f in files),
          f"wheel holds {', '.join(want_files)} and _core (missing: {[f for f in want_files if f not in files]})")

    # GPU plugins the build was able to make (LLM4ALL_WHEEL_PLUGINS, e.g. "vulkan"): in the
    # wheel, and listed by the installed package (a device is not needed for that).
    for name in filter(None, os.environ.get("LLM4ALL_WHEEL_PLUGINS", "").split(",")):
        lib = PLUGIN.format(name)
        listed = [p for p in json.loads(_core.devices_json()) if p.get("backend") == name]
        check(lib in files and bool(listed), f"wheel holds {lib} and the core lists it ({listed})")
    if "vulkan" in os.environ.get("LLM4ALL_WHEEL_PLUGINS", "").split(","):
        # The Vulkan plugin lists its devices from this child process (backends/vulkan/probe.h).
        probe = Path(llm4all.__file__).parent / "llm4all-vulkan-probe"
        check(probe.is_file() and os.access(probe, os.X_OK), f"wheel holds {probe.name}, executable")

    # The Python API, the way the README shows it; with GOLDEN, llama.cpp's greedy text
    # (stories260K has no near tie of its top two in these 16 steps).
    m = llm4all.Model(model_path)
    text = m.generate(case["prompt"], max_tokens=n, temp=0)
    want = case["text"] if golden else text
    check(bool(text) and text == want, f"Model.generate -> {text!r}" + (" (llama.cpp's golden text)" if golden else
                                                                       " (no golden file: the reference from here on)"))
    streamed = "".join(m.generate(case["prompt"], max_tokens=n, temp=0, streaming=True))
    check(streamed == want, f"Model.generate(streaming=True) -> {streamed!r}")
    if golden:
        ids = m.tokenize(case["prompt"])
        check(len(ids) == case["prompt_tokens"], f"Model.tokenize -> {ids} ({case['prompt_tokens']} tokens in llama.cpp)")

    r = cli("run", model_path, case["prompt"], "-n", str(n), "--temp", "0", "-q")
    check(r.returncode == 0 and r.stdout == want + "\n",
          f"llm4all run {case['prompt']!r} -> {r.stdout!r} (want {want!r}) {r.stderr.strip()[-300:]}")

    r = cli("devices")
    check(r.returncode == 0 and "cpu" in r.stdout, f"llm4all devices:\n{r.stdout}{r.stderr}")
    r = cli("devices", "--json")
    plugins = json.loads(r.stdout) if r.returncode == 0 else []
    found = {p.get("variant"): p for p in plugins if p.get("backend") == "cpu"}
    check(sorted(found) == sorted(VARIANTS), f"devices --json lists the CPU variants ({sorted(found)})")

    # Each CPU variant forced: the ones this CPU runs give the golden text, the others a
    # clear refusal naming the variant and why (never a crash on an illegal instruction).
    for v in VARIANTS:
        runnable = found.get(v, {}).get("score", 0) > 0
        r = cli("run", model_path, case["prompt"], "-n", str(n), "--temp", "0", "-q", variant=v)
        if runnable:
            d = cli("devices", "--json", variant=v)
            plugins = json.loads(d.stdout) if d.returncode == 0 else []
            sel = [p.get("variant") for p in plugins if p.get("selected") and p.get("backend") == "cpu"]
            check(r.returncode == 0 and r.stdout == want + "\n" and sel == [v],
                  f"LLM4ALL_CPU_VARIANT={v}: selected {sel}, text {r.stdout!r} {r.stderr.strip()[-300:]}")
        else:
            why = found.get(v, {}).get("problem", "")
            check(r.returncode != 0 and f"LLM4ALL_CPU_VARIANT={v}" in r.stderr and "cannot run here" in r.stderr
                  and "Traceback" not in r.stderr,
                  f"LLM4ALL_CPU_VARIANT={v} refused on this CPU ({why}): {r.stderr.strip()[-300:]!r}")

    # A name that is no variant at all: a clear error listing the ones there are.
    r = cli("run", model_path, case["prompt"], "-n", "2", "-q", variant="avx9000")
    check(r.returncode != 0 and 'no CPU variant named "avx9000"' in r.stderr and "generic" in r.stderr
          and "Traceback" not in r.stderr, f"LLM4ALL_CPU_VARIANT=avx9000 refused: {r.stderr.strip()[-300:]!r}")

    # A separately shipped backend (llm4all-cuda's llm4all_cuda/ folder) is found beside the
    # package with no configuration: shown here with a copy of the generic plugin.
    extra = site / "llm4all_wheeltest"
    extra.mkdir(exist_ok=True)
    try:
        shutil.copy(pkg / PLUGIN.format("cpu-generic"), extra / PLUGIN.format("wheeltest-generic"))
        r = cli("devices", "--json")
        paths = [p.get("plugin", "").replace("\\", "/") for p in json.loads(r.stdout)] if r.returncode == 0 else []
        check(any("/llm4all_wheeltest/" in p for p in paths), f"plugins in site-packages/llm4all_*/ are found ({paths})")
    finally:
        shutil.rmtree(extra)

    if failures:
        print(f"{len(failures)} wheel check(s) failed", flush=True)
        return 1
    print("wheel smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
