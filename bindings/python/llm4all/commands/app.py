"""`llm4all app`: the no-code app in the browser. Starts the server with every installed model
on demand (as `llm4all serve` without MODEL) on a free loopback port, prints its address and
opens it in the default browser; the page downloads models, chats, indexes LocalDocs folders
and keeps settings. Stop it with Ctrl-C (or by closing its terminal / ending the process).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    from .serve import add_options
    p = sub.add_parser("app", help="open the app (models, chat, LocalDocs, settings) in the browser",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--no-browser", action="store_true", help="only print the address; do not open a browser")
    add_options(p, with_model=False, port=0)
    # A free port unless one is asked for; every installed model on demand, none named.
    p.set_defaults(func=cmd_app, model=None, on_demand=True, chat_template=None, name=None, lora=[])


def cmd_app(args: argparse.Namespace) -> int:
    from .serve import cmd_serve

    def ready(url: str) -> None:
        print(f"llm4all app: {url}", flush=True)
        if not args.no_browser:
            import webbrowser
            if not webbrowser.open(url):
                print(f"llm4all app: no browser could be opened; open {url} yourself", file=sys.stderr, flush=True)

    return cmd_serve(args, ready=ready)
