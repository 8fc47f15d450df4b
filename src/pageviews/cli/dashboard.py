"""`pageviews dashboard`, and the dashboard flags that `run` shares."""

from __future__ import annotations

import argparse
import os
import subprocess

from pageviews.cli import arg_types
from pageviews.cli.backend import add_backend_options, add_data_dir_option, choose_runtime
from pageviews.cli.console import say
from pageviews.dashboard.launcher import DEFAULT_PORT, check_port_free, dashboard_command

MAX_REFRESH_S = 86_400


def add_dashboard_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dashboard-port",
        type=arg_types.port,
        default=DEFAULT_PORT,
        help=f"default {DEFAULT_PORT}",
    )
    parser.add_argument(
        "--refresh",
        type=arg_types.int_in(1, MAX_REFRESH_S),
        default=15,
        metavar="SECONDS",
        help="dashboard refresh (default 15)",
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "dashboard",
        help="serve the dashboard at http://127.0.0.1:8501",
        description=(
            "Serve the Streamlit dashboard on 127.0.0.1. It reads a live `pageviews run` on the "
            "same data dir through the run's query endpoint, or the data dir's file when no run "
            "is live."
        ),
    )
    add_data_dir_option(parser)
    add_dashboard_options(parser)
    add_backend_options(parser, "Pinot's tables")
    parser.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    runtime = choose_runtime(args)
    # The command first: a missing extra is said before anything about the port.
    argv = dashboard_command(runtime.dashboard_dir(), args.dashboard_port, args.refresh)
    check_port_free(args.dashboard_port)
    say(f"pageviews: dashboard at http://127.0.0.1:{args.dashboard_port}")
    try:
        env = {**os.environ, **runtime.dashboard_env()}
        return subprocess.run(argv, check=False, env=env).returncode  # noqa: S603 - ours
    except KeyboardInterrupt:
        return 0
