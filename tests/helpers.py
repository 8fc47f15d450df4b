"""Shared test helpers: running the real CLI, and reading result tables for comparison."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from pageviews.model.results import RESULT_TABLES
from pageviews.store.duckdb_store import DB_FILE

REPO = Path(__file__).resolve().parent.parent


def pageviews(*args: str, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run the `pageviews` CLI in a subprocess, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pageviews.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        **{"cwd": REPO, "timeout": 600, **kwargs},
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"pageviews {' '.join(args)} exited {result.returncode}\n{result.stderr}"
        )
    return result


def result_snapshot(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every result table, sorted, without columns that depend on the wall clock."""
    con = duckdb.connect(str(data_dir / DB_FILE), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        snapshot = {}
        for table in (t.name for t in RESULT_TABLES):
            columns = [
                row[0]
                for row in con.execute(f"DESCRIBE {table}").fetchall()
                if row[0] != "received_at"
            ]
            select = f"SELECT {', '.join(columns)} FROM {table}"  # noqa: S608 - our names
            rows = con.execute(select).fetchall()
            snapshot[table] = sorted(rows, key=repr)
        return snapshot
    finally:
        con.close()
