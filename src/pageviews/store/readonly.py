"""Run one read-only statement on a DuckDB connection (shared by the file store and server).

What a reader may run is an allowlist, checked on DuckDB's own parse tree (`json_serialize_sql`),
never on the text: one plain SELECT (or WITH ... SELECT, or a set operation of SELECTs) whose
every table reference is one of QUERYABLE (store/schema.py: the result catalogue's tables, the
raw_* tables and the pipeline_status view), a CTE of the statement itself in scope, a subquery,
a join of those or a VALUES list. Everything else is refused before it runs: table functions
(checkpoint(), read_csv(), range(), duckdb_settings(), query(), ...), files named as tables,
other schemas and databases (system, information_schema, temp), DESCRIBE, SHOW and SUMMARIZE,
time travel (AT ...), and every other statement type (PRAGMA, SET, ATTACH, COPY, EXPORT,
INSTALL, LOAD, CALL, EXPLAIN, writes). Scalar functions are not restricted; the connection's
`enable_external_access = false` keeps them from files (defence in depth), and the read-only
transaction refuses any write.

A statement timeout interrupts the query from a timer thread (`interrupt()`), so a runaway
query ends with a clear error instead of running on after its client gave up.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

import duckdb

from pageviews.errors import StoreError
from pageviews.store.base import QueryResult
from pageviews.store.schema import QUERYABLE

REFUSED = "query refused: only one read-only SELECT over the pipeline's tables and views is allowed"

# Table references that can only read what the other references read.
_NESTING_REFS = frozenset({"SUBQUERY", "JOIN", "EMPTY", "EXPRESSION_LIST", "PIVOT"})
_QUERY_NODES = frozenset({"SELECT_NODE", "SET_OPERATION_NODE", "RECURSIVE_CTE_NODE", "CTE_NODE"})
_QUERYABLE = frozenset(name.lower() for name in QUERYABLE)


def _parse(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    """The statements of `sql` as DuckDB's JSON parse tree; StoreError if not only SELECTs.

    Parsing reads no table, so it runs on the query's own connection: a server thread holds
    no other DuckDB object that could outlive the query (see QueryServer.stop).
    """
    try:
        statements = con.extract_statements(sql)
        if len(statements) != 1:
            raise StoreError(f"{REFUSED} (got {len(statements)} statements)")
        if statements[0].type is not duckdb.StatementType.SELECT:
            raise StoreError(f"{REFUSED} (not a SELECT: {statements[0].type.name})")
        row = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
    except duckdb.Error as error:
        raise StoreError(f"query failed: {error}") from error
    tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    if tree.get("error") or len(tree.get("statements", [])) != 1:
        raise StoreError(f"{REFUSED} ({tree.get('error_message', 'not a SELECT')})")
    return list(tree["statements"])


def check_allowed(sql: str, con: duckdb.DuckDBPyConnection | None = None) -> None:
    """StoreError unless `sql` is one SELECT that reads only QUERYABLE tables (see above).

    `con` parses; without one, a connection of its own does (and is closed)."""
    parser = duckdb.connect(":memory:") if con is None else con
    try:
        statements = _parse(parser, sql)
    finally:
        if con is None:
            parser.close()
    for statement in statements:
        _walk(statement, frozenset())


def _walk(node: Any, ctes: frozenset[str]) -> None:
    """Check every table reference under `node`; `ctes` are the CTE names in scope."""
    if isinstance(node, list):
        for item in node:
            _walk(item, ctes)
        return
    if not isinstance(node, dict):
        return
    cte_map = node.get("cte_map")
    if isinstance(cte_map, dict) and cte_map.get("map"):
        # Each CTE sees the ones before it (and itself if recursive); the query sees them all.
        for entry in cte_map["map"]:
            name = str(entry["key"]).lower()
            body = entry["value"]["query_node"]
            recursive = body.get("type") == "RECURSIVE_CTE_NODE"
            _walk(body, ctes | {name} if recursive else ctes)
            ctes = ctes | {name}
        node = {key: value for key, value in node.items() if key != "cte_map"}
    kind = node.get("type")
    if "class" not in node and isinstance(kind, str):  # expressions have a class
        if kind.endswith("_NODE"):  # a query: a DELETE ... RETURNING in a CTE is one too
            if kind not in _QUERY_NODES:
                raise StoreError(f"{REFUSED} (not a SELECT: {kind})")
        elif kind == "BASE_TABLE":
            _check_table(node, ctes)
        elif kind == "TABLE_FUNCTION" or kind.endswith("_REF"):
            raise StoreError(f"{REFUSED} (not a table of ours: {_describe(node)})")
        elif "query_location" in node and "sample" in node and kind not in _NESTING_REFS:
            raise StoreError(f"{REFUSED} (a {kind} reference)")
    for value in node.values():
        _walk(value, ctes)


def _check_table(ref: dict[str, Any], ctes: frozenset[str]) -> None:
    name = str(ref.get("table_name", "")).lower()
    schema = str(ref.get("schema_name", "")).lower()
    if ref.get("catalog_name") or schema not in ("", "main") or ref.get("at_clause"):
        raise StoreError(f"{REFUSED} (not a table of ours: {_describe(ref)})")
    if name in _QUERYABLE or (not schema and name in ctes):
        return
    raise StoreError(
        f"query failed: no table or view {_describe(ref)} here; "
        f"a query may read {', '.join(QUERYABLE)}"
    )


def _describe(ref: dict[str, Any]) -> str:
    function = ref.get("function")
    if isinstance(function, dict):
        return f"{function.get('function_name', '?')}()"
    if ref.get("type") == "BASE_TABLE":
        parts = (ref.get("catalog_name"), ref.get("schema_name"), ref.get("table_name"))
        return ".".join(str(part) for part in parts if part)
    return str(ref.get("type"))


def run_read_only(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    params: Sequence[Any] = (),
    timeout_s: float | None = None,
) -> QueryResult:
    """Run one allowed SELECT in a read-only transaction; the connection itself may be writable.

    The allowlist (check_allowed) decides what may run; the read-only transaction makes DuckDB
    refuse any write whatever the statement looks like. Past `timeout_s` the query is
    interrupted and a StoreError says so. Every DuckDB error becomes a StoreError.
    """
    check_allowed(sql, con)
    timed_out = threading.Event()

    def interrupt() -> None:
        timed_out.set()
        con.interrupt()

    timer = None if timeout_s is None else threading.Timer(timeout_s, interrupt)
    try:
        con.execute("BEGIN TRANSACTION READ ONLY")
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            cursor = con.execute(sql, list(params))
            if cursor.description is None:
                return QueryResult([], [])
            description = cursor.description
            return QueryResult(
                [d[0] for d in description], cursor.fetchall(), [str(d[1]) for d in description]
            )
        finally:
            if timer is not None:
                timer.cancel()
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:
                pass  # interrupted or closed: the transaction is gone with it
    except duckdb.Error as error:
        if timed_out.is_set():
            raise StoreError(
                f"query stopped after {timeout_s:g} s (the statement timeout, "
                "PAGEVIEWS_QUERY_TIMEOUT_S)"
            ) from error
        raise StoreError(f"query failed: {error}") from error
