"""Loading validates the model, not only the file: every copy of stories260K with a
nonsense hyper-parameter or tensor (bad_hparams.py) is refused with a message naming
the key and value by llm4all.Model, by the header check, and by the CLI's `info` and
`run` (exit 1, one clean line); the real file still passes all of them."""

import os
import subprocess
import sys

import pytest

import llm4all
from llm4all import _core

from bad_hparams import cases


def _cli(*args):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("LLM4ALL_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "llm4all", *map(str, args)], capture_output=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def bad_models(stories260k, tmp_path_factory):
    out = tmp_path_factory.mktemp("bad_hparams")
    made = {}
    for name, (data, phrases) in cases(stories260k.read_bytes()).items():
        p = out / (name + ".gguf")
        p.write_bytes(data)
        made[name] = (p, phrases)
    return made


def _names():
    here = os.path.dirname(os.path.abspath(__file__))
    base = os.environ.get("LLM4ALL_TESTDATA") or os.path.join(here, "..", "..", "..", "shared", "testdata")
    path = os.path.join(base, "models", "stories260K.gguf")
    if not os.path.exists(path):
        return ["block_count_9999"]   # the fixture skips with its reason
    with open(path, "rb") as f:
        return sorted(cases(f.read()))


@pytest.mark.parametrize("name", _names())
def test_python_refuses(bad_models, name):
    path, phrases = bad_models[name]
    with pytest.raises(llm4all.Error) as e:
        _core.gguf_check_model(path)
    assert e.value.status_name == "LLM4ALL_ERR_BAD_GGUF" and all(p in str(e.value) for p in phrases), str(e.value)
    with pytest.raises(llm4all.Error) as e:
        llm4all.Model(path)
    assert e.value.status_name == "LLM4ALL_ERR_BAD_GGUF" and all(p in str(e.value) for p in phrases), str(e.value)


@pytest.mark.parametrize("cmd", ["info", "run"])
@pytest.mark.parametrize("name", ["block_count_9999", "head_count_0", "vocab_vs_output", "context_length_absurd"])
def test_cli_refuses(bad_models, name, cmd):
    path, phrases = bad_models[name]
    proc = _cli(cmd, path, *(["hello", "-n", "2"] if cmd == "run" else []))
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout[-500:]!r} {err[-1000:]}"
    assert err.startswith("llm4all: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert all(p in err for p in phrases), err


def test_real_file_passes(stories260k):
    _core.gguf_check_model(stories260k)
    proc = _cli("info", stories260k)
    assert proc.returncode == 0, proc.stderr
    assert b"loadable" not in proc.stdout
