"""`pageviews query`: one read-only SQL statement over the chosen runtime's result tables."""

from __future__ import annotations

import argparse

from pageviews.cli.backend import add_backend_options, add_data_dir_option, choose_runtime
from pageviews.store.query import FORMATS, format_result
from pageviews.store.schema import QUERYABLE


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "query",
        help="run read-only SQL over the result tables",
        description=(
            "Run one read-only SQL statement: a single SELECT over these tables and views: "
            f"{', '.join(QUERYABLE)}. Times are TIMESTAMPTZ in UTC. A live run's endpoint "
            "answers only its owner (the token in <data dir>/endpoint.json) and stops a query "
            "after $PAGEVIEWS_QUERY_TIMEOUT_S seconds (default 10). With --backend stack, "
            "Pinot's broker answers in Pinot's SQL (0.11: no joins or subqueries; times are "
            "epoch ms, shown as UTC times; a selection without LIMIT returns 10 rows), over "
            "the result tables only."
        ),
    )
    parser.add_argument("sql", help='for example "SELECT * FROM pageview_tumbling"')
    parser.add_argument("--format", choices=FORMATS, default="table")
    add_data_dir_option(parser)
    add_backend_options(parser, "Pinot's tables, in Pinot's SQL")
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    result = choose_runtime(args).store().query(args.sql)
    print(format_result(result, args.format))
    return 0
