"""Lets `python -m llm4all ...` behave like the `llm4all` command."""
from .cli import main

raise SystemExit(main())
