"""Shared pytest fixtures: where the test data and the models are.

Test data comes from $LLM4ALL_TESTDATA or ../shared/testdata beside the repository
(tests skip with the reason when it is absent). SmolLM2 is fetched through the real
fetcher, llm4all.pull("smollm2"), unless $LLM4ALL_SMOLLM2 names a local copy; the
tests that need it carry the `smollm2` marker (deselect with -m "not smollm2").
"""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _testdata_dir() -> Path:
    env = os.environ.get("LLM4ALL_TESTDATA")
    return Path(env) if env else REPO.parent / "shared" / "testdata"


def pytest_collection_modifyitems(config, items):
    # Mark every test that uses SmolLM2, directly or through a parametrized
    # fixture name, so `-m "not smollm2"` runs without the download.
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {}) or {}
        if "smollm2" in getattr(item, "fixturenames", ()) or "smollm2" in params.values():
            item.add_marker(pytest.mark.smollm2)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def testdata() -> Path:
    d = _testdata_dir()
    if not (d / "models" / "stories260K.gguf").is_file():
        pytest.skip(f"test data not found at {d} (set LLM4ALL_TESTDATA)")
    return d


@pytest.fixture(scope="session")
def stories260k(testdata) -> Path:
    return testdata / "models" / "stories260K.gguf"


def _catalogue_model(name: str) -> Path:
    """A catalogue model (a GGUF file, or a Hugging Face folder for the converter):
    $LLM4ALL_<NAME> names a local copy, else llm4all.pull(name) fetches it."""
    var = f"LLM4ALL_{name.upper()}"
    env = os.environ.get(var)
    if env:
        if not Path(env).is_file() and not (Path(env) / "config.json").is_file():
            pytest.fail(f"{var}={env} is neither a file nor a Hugging Face folder")
        return Path(env)
    import llm4all
    return llm4all.pull(name, progress=False)


@pytest.fixture(scope="session")
def smollm2() -> Path:
    """SmolLM2-135M-Instruct Q4_1."""
    return _catalogue_model("smollm2")


@pytest.fixture(scope="session")
def gemma3() -> Path:
    """gemma-3-270m Q4_K_M."""
    return _catalogue_model("gemma3")


@pytest.fixture(scope="session")
def qwen05() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct Q4_K_M."""
    return _catalogue_model("qwen05")


@pytest.fixture(scope="session")
def qwen15() -> Path:
    """Qwen2.5-Coder-1.5B-Instruct Q4_K_M."""
    return _catalogue_model("qwen15")


@pytest.fixture(scope="session")
def minilm() -> Path:
    """all-MiniLM-L6-v2, Hugging Face folder."""
    return _catalogue_model("minilm")


@pytest.fixture(scope="session")
def embgemma() -> Path:
    """EmbeddingGemma-300M, Hugging Face folder (1.2 GB)."""
    return _catalogue_model("embgemma")


@pytest.fixture(scope="session")
def bad_gguf_dir(tmp_path_factory, repo_root, testdata) -> Path:
    """The malformed-GGUF corpus written by tests/python/bad_gguf.py."""
    import subprocess
    import sys
    out = tmp_path_factory.mktemp("bad_gguf")
    subprocess.run([sys.executable, str(repo_root / "tests" / "python" / "bad_gguf.py"), str(out),
                    "--base", str(testdata / "models" / "stories260K.gguf")], check=True)
    return out
