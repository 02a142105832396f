"""Subcommands of the `llm4all` command line that live in a module of their own
(the rest are still in cli.py); each module has add_parser(sub) and its command."""
