"""The `pageviews` command line: one module per command (or group of commands).

`main.py` assembles the parser and is the one place where errors become messages;
`backend.py` is the one place where a runtime is chosen from --backend.
"""

from pageviews.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
