"""The query interface every store offers: DuckDB now, Pinot later, behind one method.

The dashboard and `pageviews query` read through a Store and never care which one it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

DUCKDB, PINOT = "duckdb", "pinot"


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    # DuckDB type names of the columns, where the store knows them.
    types: list[str] = field(default_factory=list, compare=False)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class Store(Protocol):
    """Read-only SQL over the result tables. Parameters are always bound, never formatted."""

    # Human-readable, for the dashboard's footer and error messages.
    description: str
    # Whose SQL `query` takes: DUCKDB or PINOT.
    dialect: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> QueryResult: ...
