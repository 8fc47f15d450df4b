"""argparse types that refuse a value out of its range while the command line is parsed.

argparse prints the flag with the reason (see `OneLineParser` in main.py) and exits 2, before
anything is started or written. Library objects (RunOptions, GeneratorConfig, ...) check
their values again for their own callers.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

# Ports a dashboard can listen on.
MIN_PORT, MAX_PORT = 1, 65_535


def _int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def int_in(low: int, high: int | None = None) -> Callable[[str], int]:
    """A whole number within [low, high] (no upper bound when high is None)."""

    def parse(text: str) -> int:
        value = _int(text)
        if value < low or (high is not None and value > high):
            bound = f"at least {low:,}" if high is None else f"within {low:,}..{high:,}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text.strip()}")
        return value

    parse.__name__ = "whole number"  # what argparse names in its own messages
    return parse


def _float(text: str) -> float:
    try:
        return float(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_number(text: str) -> float:
    """A finite number above 0 (a rate, a number of seconds): not 0, inf or nan."""
    value = _float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text.strip()}")
    return value


def fraction(text: str) -> float:
    """A number within [0, 1]: not nan."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:  # also false for nan
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {text.strip()}")
    return value


def port(text: str) -> int:
    return int_in(MIN_PORT, MAX_PORT)(text)


def path(text: str) -> Path:
    """A path that is not empty (an empty one would silently mean the current directory)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)
