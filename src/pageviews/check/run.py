"""`pageviews check`: recompute a data dir's results with the oracle and report differences."""

from __future__ import annotations

from pathlib import Path

from pageviews.check.diff import compare, format_diffs
from pageviews.config import WindowConfig
from pageviews.store.duckdb_store import Meta, StoreError, connect


def check_data_dir(data_dir: Path) -> tuple[str, bool]:
    """(report, every table matched)."""
    con = connect(data_dir, read_only=True)
    try:
        stored = Meta(con).get("config")
        if stored is None:
            raise StoreError(f"{data_dir} holds no run yet")
        diffs = compare(con, WindowConfig(**stored))
        return format_diffs(diffs), all(diff.ok for diff in diffs)
    finally:
        con.close()
