"""Read the result tables from Apache Pinot, in Pinot's own SQL, through its broker.

Pinot has no bind parameters. PinotStore renders only values it can write as literals that
mean exactly that value: booleans, integers, finite floats, aware datetimes (as epoch
milliseconds, the tables' time unit), and strings without control characters, quoted with
their quotes doubled (the SQL standard's only escape; Pinot's parser knows no other).
Anything else is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pageviews import http_client
from pageviews.errors import HttpError, StoreError
from pageviews.model.results import DOUBLE, INT, MS, RESULT_TABLES
from pageviews.store.base import PINOT, QueryResult

TIMEOUT_S = 15.0

# Pinot's types as DuckDB names, so callers see the same type words from every store.
DUCKDB_TYPES = {
    "INT": "INTEGER",
    "LONG": "BIGINT",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "BIG_DECIMAL": "DECIMAL",
    "BOOLEAN": "BOOLEAN",
    "TIMESTAMP": "TIMESTAMP",
    "STRING": "VARCHAR",
    "JSON": "JSON",
    "BYTES": "BLOB",
}

# Pinot 0.11 selects a null as the column's default null value; these turn back into None.
NULL_DEFAULTS: dict[str, Any] = {INT: -(2**31), DOUBLE: float("-inf")}
NULLABLE = {
    c.name: NULL_DEFAULTS[c.type]
    for t in RESULT_TABLES
    for c in t.columns
    if c.nullable and c.type in NULL_DEFAULTS
}


# Result columns that hold a point in time as epoch ms: the catalogue's, and names ending `_at`.
TIME_COLUMNS = {c.name for t in RESULT_TABLES for c in t.columns if c.type == MS}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def render(sql: str, params: Sequence[Any]) -> str:
    """Replace each `?` outside quotes and comments with a literal rendered from a typed value."""
    out: list[str] = []
    values = iter(params)
    used = 0
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"":  # a literal or a quoted name; '' and "" escape the quote inside
            end = i + 1
            while end < n and not (sql[end] == ch and sql[end + 1 : end + 2] != ch):
                end += 2 if sql[end] == ch else 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
        elif ch == "?":
            try:
                out.append(literal(next(values)))
            except StopIteration:
                raise StoreError(f"query has more ? than the {len(params)} parameters") from None
            used += 1
            i += 1
        else:
            out.append(ch)
            i += 1
    if used != len(params):
        raise StoreError(f"query has {used} ? but {len(params)} parameters were given")
    return "".join(out)


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise StoreError("a datetime parameter needs a time zone (Pinot stores UTC epoch ms)")
        return str(round(value.timestamp() * 1000))
    if isinstance(value, str) and not _CONTROL.search(value):
        return "'" + value.replace("'", "''") + "'"
    raise StoreError(
        f"Pinot has no bind parameters; a {type(value).__name__} parameter cannot be passed "
        "safely (only booleans, integers, finite floats, aware datetimes and strings without "
        "control characters)"
    )


class PinotStore:
    """Pinot SQL (0.11, single-stage engine) through the broker's POST /query/sql."""

    def __init__(
        self,
        broker_url: str,
        controller_url: str | None = None,
        timeout_s: float = TIMEOUT_S,
        datetimes: bool = False,
    ) -> None:
        """`datetimes`: give time columns (TIME_COLUMNS) as aware datetimes, as the embedded
        stores do, for readers; else as Pinot's epoch ms."""
        self.broker_url = broker_url.rstrip("/")
        self.controller_url = controller_url.rstrip("/") if controller_url else None
        self.timeout_s = timeout_s
        self.datetimes = datetimes
        self.description = f"Apache Pinot broker at {self.broker_url}"
        self.dialect = PINOT

    def query(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        payload = self._call(f"{self.broker_url}/query/sql", {"sql": render(sql, params)})
        exceptions = payload.get("exceptions") or []
        if exceptions:
            first = exceptions[0]
            message = _exception_text(str(first.get("message", "")))
            raise StoreError(f"Pinot query failed ({first.get('errorCode')}): {message}")
        if payload.get("numServersQueried", 0) != payload.get("numServersResponded", 0):
            raise StoreError(
                f"Pinot answered partially: {payload.get('numServersResponded')} of "
                f"{payload.get('numServersQueried')} servers responded"
            )
        table = payload.get("resultTable")
        if table is None:
            return QueryResult([], [])
        names = list(table["dataSchema"]["columnNames"])
        types = [_duckdb_type(t) for t in table["dataSchema"]["columnDataTypes"]]
        rows = [_typed_row(row, names) for row in table["rows"]]
        if self.datetimes:
            times = [
                i for i, name in enumerate(names) if name in TIME_COLUMNS or name.endswith("_at")
            ]
            rows = [_with_datetimes(row, times) for row in rows]
            for i in times:
                types[i] = "TIMESTAMP WITH TIME ZONE"
        return QueryResult(names, rows, types)

    def describe(self, table: str) -> QueryResult:
        """(column_name, column_type, primary_key) from the table's schema on the controller.

        The controller, not a `LIMIT 0` query: the broker types every column of an empty
        result as STRING.
        """
        if self.controller_url is None:
            raise StoreError("describe needs the Pinot controller's URL")
        if not table.isidentifier():
            raise StoreError(f"not a table name: {table!r}")
        schema = self._call(f"{self.controller_url}/schemas/{table}", None)
        keys = set(schema.get("primaryKeyColumns") or [])
        specs = [
            spec
            for group in ("dimensionFieldSpecs", "metricFieldSpecs", "dateTimeFieldSpecs")
            for spec in schema.get(group) or []
        ]
        return QueryResult(
            ["column_name", "column_type", "primary_key"],
            [(s["name"], _duckdb_type(s["dataType"]), s["name"] in keys) for s in specs],
            ["VARCHAR", "VARCHAR", "BOOLEAN"],
        )

    def alive(self) -> bool:
        return http_client.probe_text(f"{self.broker_url}/health", timeout_s=2) == "OK"

    def _call(self, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """POST `body` (or GET without one) and decode the JSON answer."""
        try:
            result = http_client.request(
                "GET" if body is None else "POST", url, body, timeout_s=self.timeout_s
            )
        except HttpError as error:
            if error.status is not None:
                detail = error.body[:500]
                raise StoreError(f"Pinot answered {error.status} at {url}: {detail}") from error
            raise StoreError(
                f"Pinot at {url} did not answer: {error.reason} (is `pageviews stack up` running?)"
            ) from error
        if not isinstance(result, dict):
            raise StoreError(f"Pinot answered {url} with {type(result).__name__}, not an object")
        return result


def _exception_text(message: str) -> str:
    """Pinot's error type and reason, without the Java stack trace that follows them."""
    lines = []
    for line in message.splitlines():
        if line.strip().startswith("at ") or line.startswith("\t"):
            break
        lines.append(line.strip())
    return " ".join(part for part in lines if part)


def _duckdb_type(pinot_type: str) -> str:
    if pinot_type.endswith("_ARRAY"):
        return DUCKDB_TYPES.get(pinot_type.removesuffix("_ARRAY"), pinot_type) + "[]"
    return DUCKDB_TYPES.get(pinot_type, pinot_type)


def _with_datetimes(row: tuple[Any, ...], times: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for i in times:
        ms = values[i]
        if isinstance(ms, float) and math.isfinite(ms):
            ms = round(ms)  # Pinot's MIN and MAX answer doubles
        if isinstance(ms, int) and not isinstance(ms, bool):
            # Whole seconds, then the ms: no float rounding.
            values[i] = datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)
    return tuple(values)


def _typed_row(row: list[Any], names: list[str]) -> tuple[Any, ...]:
    """JSON brings -Infinity as text; a nullable result column's null default becomes None."""
    values = []
    for name, value in zip(names, row, strict=True):
        if value in ("-Infinity", "Infinity", "NaN"):
            value = float(value)
        if name in NULLABLE and value == NULLABLE[name]:
            value = None
        values.append(value)
    return tuple(values)
