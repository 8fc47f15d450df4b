"""Read-only SQL over the result tables, and the output formats of `pageviews query`."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from pageviews.store.duckdb_store import StoreError, connect


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def run_query(data_dir: Path, sql: str, params: list[Any] | None = None) -> QueryResult:
    """Run one statement on a read-only connection; the file cannot be changed through it."""
    con = connect(data_dir, read_only=True)
    try:
        # No reading or writing files on this connection: only the stored tables.
        con.execute("SET enable_external_access = false")
        try:
            cursor = con.execute(sql, params or [])
        except duckdb.Error as error:
            raise StoreError(f"query failed: {error}") from error
        if cursor.description is None:
            return QueryResult([], [])
        columns = [d[0] for d in cursor.description]
        return QueryResult(columns, cursor.fetchall())
    finally:
        con.close()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def format_result(result: QueryResult, fmt: str) -> str:
    if fmt == "json":
        rows = [
            {
                c: (_text(v) if isinstance(v, datetime) else v)
                for c, v in zip(result.columns, row, strict=True)
            }
            for row in result.rows
        ]
        return json.dumps(rows, indent=2, default=str)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_text(v) for v in row] for row in result.rows)
        return out.getvalue().rstrip("\n")
    cells = [[_text(v) for v in row] for row in result.rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(result.columns)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=False)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=False)) for row in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines)
