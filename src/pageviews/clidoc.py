"""docs/cli.md, generated from the parsers' own --help text so it cannot drift.

`python -m pageviews.clidoc > docs/cli.md` rewrites it; a test fails when it is stale.
"""

from __future__ import annotations

import argparse
import os

from pageviews.cli.main import build_parser

HELP_WIDTH = "100"


def render() -> str:
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps to the terminal width
    parser = build_parser()
    parts = [
        "# Command line reference",
        "",
        "Generated from `--help` by `python -m pageviews.clidoc`; do not edit by hand.",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
    ]
    subparsers = next(
        action for action in parser._actions if isinstance(action, argparse._SubParsersAction)
    )
    for name, subparser in subparsers.choices.items():
        parts += [
            "",
            f"## pageviews {name}",
            "",
            "```text",
            subparser.format_help().rstrip(),
            "```",
        ]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(render(), end="")
