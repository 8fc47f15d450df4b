"""Run one read-only statement on a DuckDB connection (shared by the file store and server)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from pageviews.errors import StoreError
from pageviews.store.base import QueryResult


def run_read_only(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> QueryResult:
    """Run one SELECT in a read-only transaction; the connection itself may be writable.

    The statement type alone is not enough: a SELECT can wrap a DELETE in a CTE. The read-only
    transaction makes DuckDB refuse any write, whatever the statement looks like.
    """
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        raise StoreError(f"query failed: {error}") from error
    if len(statements) != 1:
        raise StoreError(f"query failed: expected one statement, got {len(statements)}")
    if statements[0].type is not duckdb.StatementType.SELECT:
        raise StoreError("query failed: only read-only SELECT statements are allowed")
    con.execute("BEGIN TRANSACTION READ ONLY")
    try:
        cursor = con.execute(sql, list(params))
        if cursor.description is None:
            return QueryResult([], [])
        description = cursor.description
        return QueryResult(
            [d[0] for d in description], cursor.fetchall(), [str(d[1]) for d in description]
        )
    except duckdb.Error as error:
        raise StoreError(f"query failed: {error}") from error
    finally:
        con.execute("ROLLBACK")
