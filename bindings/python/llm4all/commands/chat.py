"""`llm4all chat MODEL`: an interactive chat with streamed replies.

In a terminal: type a message, the reply streams back; Ctrl-C stops the reply
(not the program), Ctrl-D or /exit leaves. Commands: /reset, /system TEXT,
/save FILE, /load FILE, /exit. When stdin is not a terminal, every line is one
user message and every reply is printed on its own, so chats can be scripted.
With --docs NAME (LocalDocs collections), each question is answered from the collection's
best passages and the reply ends with numbered citations (file and location).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any, Dict

HELP = "commands: /reset  /system TEXT  /save FILE  /load FILE  /exit"


def add_parser(sub: Any, model_args, sampling_args) -> None:
    p = sub.add_parser("chat", help="chat with a model using its chat template",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="a .gguf file or a catalogue name")
    p.add_argument("--system", default=None, metavar="TEXT", help="system message")
    p.add_argument("--template", default=None, metavar="FILE", help="Jinja chat template file (default: the model's)")
    p.add_argument("--docs", action="append", default=None, metavar="NAME",
                   help="answer from this LocalDocs collection, with citations (may be given several times)")
    sampling_args(p)
    model_args(p)
    p.set_defaults(func=cmd_chat)


def _save(path: str, history: Any) -> None:
    # Written whole to a temporary file and renamed, so a crash never leaves half a file.
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".chat-", suffix=".json", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(history, f, ensure_ascii=False, indent=2)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _load_history(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        history = json.load(f)
    if not isinstance(history, list) or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                                for m in history):
        raise ValueError(f"{path}: expected a JSON list of messages with a \"role\"")
    return history


def _set_system(chat, text: str) -> None:
    history = [m for m in chat.history if m.get("role") != "system"]
    chat.history = ([{"role": "system", "content": text}] if text else []) + history


def _command(chat, line: str, out) -> bool:
    """Runs a /command; False means leave."""
    cmd, _, arg = line.partition(" ")
    arg = arg.strip()
    if cmd in ("/exit", "/quit", "/bye"):
        return False
    if cmd == "/reset":
        chat.reset()
        out("[conversation reset]\n")
    elif cmd == "/system":
        _set_system(chat, arg)
        out("[system message set]\n" if arg else "[system message removed]\n")
    elif cmd == "/save" and arg:
        _save(arg, chat.history)
        out(f"[saved {len(chat.history)} messages to {arg}]\n")
    elif cmd == "/load" and arg:
        chat.history = _load_history(arg)
        out(f"[loaded {len(chat.history)} messages from {arg}]\n")
    else:
        out(f"[unknown command {line!r}; {HELP}]\n")
    return True


def _reply(chat, text: str, sampling: Dict[str, Any], write, docs=None) -> None:
    hits: list = []
    if docs:
        from ..localdocs.answer import prepare
        messages, hits = prepare([{"role": "user", "content": text}], docs)
        text = messages[-1]["content"]
    pieces = chat.send(text, streaming=True, **sampling)
    try:
        for piece in pieces:
            write(piece)
    except KeyboardInterrupt:
        pieces.close()   # aborts the engine at its next batch or token
        write(" [stopped]")
    if hits:
        from ..localdocs.answer import citations
        write(citations(hits))
    write("\n")
    st = chat.stats
    if st.get("dropped_messages"):
        sys.stderr.write(f"[{st['dropped_messages']} oldest messages dropped to fit the context]\n")


def cmd_chat(args: argparse.Namespace) -> int:
    from ..cli import _load, _sampling_from_args, _write
    template = None
    if args.template:
        with open(args.template, encoding="utf-8") as f:
            template = f.read()
    if args.docs:
        from .. import localdocs
        with localdocs.Store() as store:
            for name in args.docs:
                store.collection(name)   # an unknown name fails here, before the model loads
    model = _load(args)
    chat = model.chat_session(system_message=args.system, template=template)
    sampling = _sampling_from_args(args)
    interactive = sys.stdin.isatty()
    if interactive:
        sys.stderr.write(f"chatting with {model.path.name}; Ctrl-C stops a reply, Ctrl-D leaves; {HELP}\n")
    while True:
        try:
            line = input("> " if interactive else "")
        except EOFError:
            if interactive:
                sys.stderr.write("\n")
            return 0
        except KeyboardInterrupt:
            sys.stderr.write("\n")
            continue
        if not line.strip():
            continue
        if line.startswith("/"):
            try:
                if not _command(chat, line.strip(), _write):
                    return 0
            except (OSError, ValueError) as e:
                _write(f"[error: {e}]\n")
            continue
        _reply(chat, line, sampling, _write, args.docs)
