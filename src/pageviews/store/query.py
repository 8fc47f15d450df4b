"""The output formats of `pageviews query`: a table for eyes, CSV and JSON for programs."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from pageviews.store.base import QueryResult

FORMATS = ("table", "csv", "json")


def _text(value: Any, exact_floats: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        # repr is the shortest text that parses back to the same float; tables are for eyes.
        return repr(value) if exact_floats else f"{value:.6g}"
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
        writer.writerows([_text(v, exact_floats=True) for v in row] for row in result.rows)
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
