"""The embedded store: one DuckDB file in the data dir holds raw records, state and results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

# Re-exported: callers that predate errors.py import them from here.
from pageviews.errors import NoDataYet as NoDataYet
from pageviews.errors import StoreError as StoreError
from pageviews.store.data_dir import claim_database, make_data_dir, mark_statement, owner_only
from pageviews.store.schema import all_ddl, our_table_names

DB_FILE = "pageviews.duckdb"


def connect(
    data_dir: Path, *, read_only: bool = False, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    """The data dir's database. A writer creates the data dir owner-only, and refuses (having
    written nothing) a database that another program made; see store/data_dir.py."""
    path = data_dir / DB_FILE
    if read_only and not path.exists():
        if data_dir.exists() and not data_dir.is_dir():
            raise StoreError(f"data dir {data_dir} is a file, not a directory")
        raise NoDataYet(f"no pageviews data in {data_dir} (run `pageviews run` first)")
    if path.exists() and not path.is_file():
        raise StoreError(f"{path} is not a file")
    if not read_only:
        make_data_dir(data_dir)
        owner_only(path)
    con = _open(path, read_only=read_only)
    try:
        needs_ddl = claim_database(con, path, our_table_names(), read_only=read_only)
    except BaseException:
        con.close()
        raise
    con.execute("SET TimeZone = 'UTC'")
    # Queries are served from this database: none of them may read or write other files.
    con.execute("SET enable_external_access = false")
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    if needs_ddl:
        # One transaction: a database is never left with our tables but without our mark.
        con.execute("BEGIN TRANSACTION")
        for ddl in all_ddl():
            con.execute(ddl)
        con.execute(*mark_statement())
        con.execute("COMMIT")
    elif not read_only:
        for ddl in all_ddl():  # tables that a newer pageviews added since the database was made
            con.execute(ddl)
    return con


def _open(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise StoreError(
                f"{path} is in use by another process (is `pageviews run` still running?)"
            ) from error
        raise StoreError(f"cannot open {path}: {_first_line(error)}") from error
    except duckdb.Error as error:
        raise StoreError(f"cannot open {path}: {_first_line(error)}") from error


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


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
