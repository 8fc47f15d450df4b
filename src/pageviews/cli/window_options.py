"""The window flags (`--lateness`, `--tumbling`, ...) shared by every command that runs a job."""

from __future__ import annotations

import argparse

from pageviews.config import WindowConfig
from pageviews.errors import ConfigError
from pageviews.timefmt import parse_duration_ms

FLAGS = (
    ("--lateness", "lateness_ms"),
    ("--tumbling", "tumbling_ms"),
    ("--hop-size", "hopping_size_ms"),
    ("--hop-step", "hopping_step_ms"),
    ("--session-gap", "session_gap_ms"),
    ("--user-session-gap", "user_session_gap_ms"),
    ("--country-window", "country_ms"),
)


def duration_ms(text: str) -> int:
    """An argparse type: argparse prints the reason and the flag, and exits 2."""
    try:
        return parse_duration_ms(text)
    except ConfigError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def add_window_options(parser: argparse.ArgumentParser) -> None:
    defaults = WindowConfig()
    group = parser.add_argument_group("windows (durations like 250ms, 30s, 5m, 1h)")
    for flag, attr in FLAGS:
        group.add_argument(
            flag,
            dest=attr,
            type=duration_ms,
            default=getattr(defaults, attr),
            metavar="DURATION",
            help=f"default {getattr(defaults, attr) // 1000}s",
        )


def window_config(args: argparse.Namespace) -> WindowConfig:
    for flag, attr in FLAGS:
        if attr != "lateness_ms" and getattr(args, attr) <= 0:
            raise ConfigError(f"{flag} must be above 0, got {getattr(args, attr)}ms")
    try:
        return WindowConfig(**{attr: getattr(args, attr) for _, attr in FLAGS})
    except ConfigError as error:
        # The message names the fields; the user typed flags.
        text = str(error)
        for flag, attr in sorted(FLAGS, key=lambda pair: -len(pair[1])):  # longest first
            text = text.replace(attr, flag)
        raise ConfigError(text) from error
