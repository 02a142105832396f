"""`llm4all chat` through a pseudo-terminal (streamed replies, commands, Ctrl-C stops a
reply but not the program) and with stdin from a pipe (one message per line)."""

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time

import pytest

import llm4all

GREEDY = ["--temp", "0", "--repeat-penalty", "1", "-t", "2"]


def _read_until(fd, needle: bytes, timeout: float = 60.0) -> bytes:
    buf = b""
    end = time.monotonic() + timeout
    while needle not in buf:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {buf[-500:]!r}")
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_chat_in_a_terminal(smollm2, tmp_path):
    pid, fd = pty.fork()
    if pid == 0:  # the child: llm4all chat on the terminal
        os.execv(sys.executable, [sys.executable, "-m", "llm4all", "chat", str(smollm2), "-n", "400",
                                  "--system", "You are a helpful assistant."] + GREEDY)
    try:
        _read_until(fd, b"> ")
        os.write(fd, b"Hi!\n")
        out = _read_until(fd, b"> ")
        model = llm4all.Model(str(smollm2), n_threads=2)
        expected = model.chat([{"role": "system", "content": "You are a helpful assistant."},
                               {"role": "user", "content": "Hi!"}], max_tokens=400, temp=0, repeat_penalty=1)
        assert expected.strip() and expected.strip().replace("\n", "\r\n") in out.decode("utf-8", "replace")
        # A long reply, stopped by Ctrl-C: the program stays and answers the next command.
        os.write(fd, b"Count from 1 to 300, separated by commas.\n")
        _read_until(fd, b"Count from 1 to 300, separated by commas.\r\n")
        _read_until(fd, b",")   # the reply is streaming
        os.kill(pid, signal.SIGINT)
        out = _read_until(fd, b"> ", timeout=20)
        assert b"[stopped]" in out
        save = tmp_path / "chat.json"
        os.write(fd, f"/save {save}\n".encode())
        _read_until(fd, b"> ")
        history = json.loads(save.read_text())
        assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
        assert history[3]["content"].startswith("Count from 1 to 300")
        os.write(fd, b"/reset\n")
        assert b"reset" in _read_until(fd, b"> ")
        os.write(fd, b"/exit\n")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_chat_from_a_pipe(smollm2, tmp_path):
    history = tmp_path / "in.json"
    history.write_text(json.dumps([{"role": "system", "content": "Answer in one word."}]))
    stdin = f"/load {history}\nWhat colour is the sky?\nAnd grass?\n"
    p = subprocess.run([sys.executable, "-m", "llm4all", "chat", str(smollm2), "-n", "12"] + GREEDY,
                       input=stdin, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("[loaded 1 messages")
    m = llm4all.Model(str(smollm2), n_threads=2)
    chat = m.chat_session(system_message="Answer in one word.")
    first = chat.send("What colour is the sky?", max_tokens=12, temp=0, repeat_penalty=1)
    second = chat.send("And grass?", max_tokens=12, temp=0, repeat_penalty=1)
    assert p.stdout == lines[0] + "\n" + first + "\n" + second + "\n"
