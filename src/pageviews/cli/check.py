"""`pageviews check`: every result recomputed by the batch oracle, and compared."""

from __future__ import annotations

import argparse

from pageviews.cli.backend import add_backend_options, add_data_dir_option, choose_runtime
from pageviews.cli.console import say


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("check", help="recompute every result with batch SQL and compare")
    add_data_dir_option(parser)
    add_backend_options(parser, "the raw events in Kafka against Pinot's tables")
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    report = choose_runtime(args).check(say)
    print(report.text)
    return 0 if report.ok else 1
