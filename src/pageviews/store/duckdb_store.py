"""The embedded store: one DuckDB file in the data dir holds raw records, state and results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

# Re-exported: callers that predate errors.py import them from here.
from pageviews.errors import NoDataYet as NoDataYet
from pageviews.errors import StoreError as StoreError
from pageviews.store.schema import all_ddl

DB_FILE = "pageviews.duckdb"


def connect(
    data_dir: Path, *, read_only: bool = False, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    path = data_dir / DB_FILE
    if read_only and not path.exists():
        raise NoDataYet(f"no pageviews data in {data_dir} (run `pageviews run` first)")
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise StoreError(
                f"{path} is in use by another process (is `pageviews run` still running?)"
            ) from error
        raise
    con.execute("SET TimeZone = 'UTC'")
    # Queries are served from this database: none of them may read or write other files.
    con.execute("SET enable_external_access = false")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if not read_only:
        for ddl in all_ddl():
            con.execute(ddl)
    return con


class Meta:
    """Key/value run state (positions, watermark inputs, config) in state_meta, as JSON."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con

    def get(self, key: str, default: Any = None) -> Any:
        # fetchall: a partly fetched result would block relational calls on the connection.
        rows = self._con.execute("SELECT value FROM state_meta WHERE key = ?", [key]).fetchall()
        return default if not rows else json.loads(rows[0][0])

    def set_many(self, values: dict[str, Any]) -> None:
        # One statement: executemany costs a statement per row, every batch.
        self._con.execute(
            "INSERT OR REPLACE INTO state_meta SELECT unnest($keys), unnest($values)",
            {
                "keys": list(values),
                "values": [json.dumps(value) for value in values.values()],
            },
        )
