"""The `llm4all` command line, run as `python -m llm4all` in a subprocess: info,
run and perplexity on stories260K, and clean one-line errors (exit 1, no
traceback, no crash) for missing files, bad UTF-8 and every malformed GGUF file."""

import json
import os
import subprocess
import sys

import pytest

import llm4all
from llm4all import _core


def llm4all_cli(*args, timeout=300):
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    env.pop("LLM4ALL_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "llm4all", *args], capture_output=True, timeout=timeout, env=env)


def assert_clean_error(proc):
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, f"exit {proc.returncode}, stderr: {err[-2000:]}"
    assert err.startswith("llm4all: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_info(stories260k):
    proc = llm4all_cli("info", str(stories260k))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    fields = dict(line.split(":", 1) for line in out.splitlines())
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    assert fields["architecture"] == "llama"
    assert fields["vocab size"] == "512"
    assert fields["chat template"] in ("yes", "no")
    assert fields["tensor types"].startswith("F32 x ")
    assert fields["context length"].isdigit()
    assert "K (" in fields["parameters"]  # 260K parameters, shown as e.g. "292.9K (292,928)"


def test_info_json(stories260k):
    proc = llm4all_cli("info", "--json", str(stories260k))
    assert proc.returncode == 0, proc.stderr
    desc = json.loads(proc.stdout)
    assert desc["summary"]["architecture"] == "llama"
    assert desc["summary"]["parameters"] > 200_000
    assert len(desc["tensors"]) == desc["summary"]["tensor_count"]


def test_run_streams_greedy_text(stories260k):
    proc = llm4all_cli("run", str(stories260k), "Once upon a time", "-n", "16", "--temp", "0", "-q")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode("utf-8")
    model = llm4all.Model(str(stories260k), n_ctx=256)
    want = model.generate("Once upon a time", max_tokens=16, temp=0)
    assert text == want + "\n"
    assert len(text.strip()) > 0


def test_run_options_between_model_and_prompt(stories260k):
    """llama.cpp and Ollama users put options anywhere: the prompt after them still counts."""
    want = llm4all_cli("run", str(stories260k), "Once upon a time", "-n", "8", "--temp", "0", "-q")
    got = llm4all_cli("run", str(stories260k), "-n", "8", "--temp", "0", "-q", "Once upon a time")
    assert want.returncode == got.returncode == 0, got.stderr
    assert got.stdout == want.stdout and got.stdout.strip()
    two = llm4all_cli("run", str(stories260k), "-n", "8", "one", "two")
    assert two.returncode == 2 and b"unrecognized arguments: one two" in two.stderr


def test_run_missing_file():
    err = assert_clean_error(llm4all_cli("run", "no/such/model.gguf", "hi"))
    assert "no/such/model.gguf" in err


def test_run_bad_utf8_prompt(stories260k):
    proc = subprocess.run([sys.executable.encode(), b"-m", b"llm4all", b"run", os.fsencode(stories260k),
                           b"bad \xff\xfe utf8", b"-n", b"4", b"-q"], capture_output=True, timeout=300)
    err = assert_clean_error(proc)
    assert "UTF-8" in err or "utf-8" in err.lower()


def test_perplexity_output_format(stories260k, testdata):
    proc = llm4all_cli("perplexity", str(stories260k), str(testdata / "ppl" / "wiki.test.raw"),
                       "-c", "128", "--chunks", "3")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert out.startswith("[1]") and "[3]" in out and "[4]" not in out
    final = [l for l in out.splitlines() if l.startswith("Final estimate: PPL = ")]
    assert len(final) == 1
    running = [float(x.split("]")[1]) for x in out.splitlines()[0].rstrip(",").split(",")]
    assert float(final[0].split()[4]) == pytest.approx(running[-1], rel=1e-4)


def test_pull_unknown_name_is_usage_error():
    proc = llm4all_cli("pull", "no-such-model")
    assert proc.returncode == 2 and b"invalid choice" in proc.stderr


def _bad_files(d):
    return sorted(p for p in d.iterdir() if p.suffix == ".gguf" and not p.name.startswith("valid"))


def test_malformed_corpus_cli_gives_clean_errors(bad_gguf_dir):
    bad = _bad_files(bad_gguf_dir)
    assert len(bad) >= 30
    for path in bad:
        proc = llm4all_cli("info", str(path), timeout=60)
        assert proc.returncode == 1, f"{path.name}: exit {proc.returncode} {proc.stderr[-500:]!r}"
        assert_clean_error(proc)


def test_malformed_corpus_python_raises_error(bad_gguf_dir):
    for path in _bad_files(bad_gguf_dir):
        with pytest.raises(llm4all.Error) as info:
            _core.Model(str(path))
        assert info.value.status < 0 and info.value.status_name.startswith("LLM4ALL_ERR_"), path.name
        assert str(info.value), path.name
        with pytest.raises(llm4all.Error):
            _core.gguf_describe(str(path))


def test_valid_corpus_files_describe(bad_gguf_dir):
    for path in sorted(bad_gguf_dir.glob("valid*.gguf")):
        json.loads(_core.gguf_describe(str(path)))
