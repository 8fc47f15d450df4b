"""Messages for the user go to stderr, one line each; results go to stdout."""

from __future__ import annotations

import sys


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
