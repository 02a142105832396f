"""Every language binding's example (bindings/<lang>/run-example.sh MODEL PROMPT N) prints
exactly what llm4all.Model(MODEL).generate(PROMPT, max_tokens=N, temp=0) returns, on
stories260K and SmolLM2 with prompts no other test uses; and a missing model file gives a
native error carrying the C message, not a crash.

A run-example.sh exits 77 when its language's toolchain is missing: that binding is skipped
with the reason it printed. The bindings find the core library through $LLM4ALL_LIB_DIR
(bindings/core_lib.sh builds build/bindings if it is unset; tests/run.sh sets it)."""

import subprocess
from pathlib import Path

import pytest
from sanitizer import plain_env

import llm4all

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(REPO.glob("bindings/*/run-example.sh"))
# The first call of a binding may build it and the core library.
TIMEOUT = 1200

STORIES_CASES = [("The old owl said", 32), ("Tim and his mom baked", 48), ("Sara found a shiny stone. She", 20)]
SMOLLM2_CASES = [("The three primary colors are", 16), ("Écris une phrase sur la mer:", 12)]


def run_example(script: Path, model: Path, prompt: str, n: int) -> subprocess.CompletedProcess:
    # The examples load a release core ($LLM4ALL_LIB_DIR or build/bindings); their toolchains
    # (nvcc in that build, mono, go, java, node) do not run under a preloaded sanitizer.
    r = subprocess.run(["bash", str(script), str(model), prompt, str(n)], capture_output=True, timeout=TIMEOUT,
                       env=plain_env())
    if r.returncode == 77:
        reason = r.stderr.decode(errors="replace").strip()
        print(f"{script.parent.name}: skipped: {reason}")
        pytest.skip(f"{script.parent.name}: toolchain missing: {reason}")
    return r


@pytest.fixture(scope="module")
def references():
    cache = {}

    def get(model: Path, prompt: str, n: int) -> str:
        if model not in cache:
            cache[model] = llm4all.Model(str(model), allow_download=False)
        return cache[model].generate(prompt, max_tokens=n, temp=0)

    return get


def test_every_binding_has_an_example():
    assert {s.parent.name for s in SCRIPTS} >= {"go", "java"}, SCRIPTS


def check(script, model, prompt, n, references):
    want = references(model, prompt, n)
    assert want, "the reference generated nothing: a useless case"
    r = run_example(script, model, prompt, n)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-3000:]
    assert r.stdout.decode("utf-8") == want


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.parent.name)
@pytest.mark.parametrize("prompt,n", STORIES_CASES)
def test_example_matches_python_stories260k(script, prompt, n, stories260k, references):
    check(script, stories260k, prompt, n, references)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.parent.name)
@pytest.mark.parametrize("prompt,n", SMOLLM2_CASES)
def test_example_matches_python_smollm2(script, prompt, n, smollm2, references):
    check(script, smollm2, prompt, n, references)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.parent.name)
def test_missing_model_is_a_native_error(script, tmp_path):
    missing = tmp_path / "no-such-model.gguf"
    with pytest.raises(llm4all.Error) as exc:
        llm4all.Model(str(missing), allow_download=False)
    c_message = str(exc.value)
    assert str(missing) in c_message
    r = run_example(script, missing, "Hello", 4)
    err = r.stderr.decode(errors="replace")
    # A native error: a normal non-zero exit (not a signal, which bash reports as 128+n).
    assert 0 < r.returncode < 128, (r.returncode, err)
    assert c_message in err, err
    assert r.stdout == b""
