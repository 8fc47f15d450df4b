"""Run one read-only statement on a DuckDB connection (shared by the file store and server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from pageviews.store.base import QueryResult
from pageviews.store.duckdb_store import StoreError

_READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def run_read_only(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> QueryResult:
    """Refuse anything but one SELECT; the caller's connection may well be writable."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        raise StoreError(f"query failed: {error}") from error
    if len(statements) != 1:
        raise StoreError(f"query failed: expected one statement, got {len(statements)}")
    if statements[0].type not in _READ_ONLY:
        raise StoreError("query failed: only read-only SELECT statements are allowed")
    try:
        cursor = con.execute(sql, list(params))
    except duckdb.Error as error:
        raise StoreError(f"query failed: {error}") from error
    if cursor.description is None:
        return QueryResult([], [])
    return QueryResult([d[0] for d in cursor.description], cursor.fetchall())
