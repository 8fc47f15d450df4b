"""Errors that the CLI turns into one clean message (the others live next to their cause)."""

from __future__ import annotations


class UsageError(Exception):
    """Options that do not fit together."""
