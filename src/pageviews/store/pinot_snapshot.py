"""The dashboard's DuckDB SQL, answered over a fresh copy of Pinot's result tables.

Why a copy and not a Pinot dialect of every dashboard query: the dashboard's SQL is DuckDB's
(bound `?` parameters, TIMESTAMPTZ arithmetic, epoch(), left(), a `pipeline_status` view), and
Pinot 0.11's single-stage engine has no joins, subqueries or bind parameters. The result tables
are small (one row per key and window, upserted), so plain SELECTs copy them in well under a
second; the dashboard's queries then run unchanged, with real bound parameters, on an in-memory
DuckDB built with the embedded store's own DDL. One copy serves all queries for `max_age_s`.

The copy follows the embedded tables: epoch ms become TIMESTAMPTZ, users whose latest version
is a delete are left out, and the append tables get a `seq` in (time, partition, offset) order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

from pageviews.config import WindowConfig
from pageviews.errors import StoreError
from pageviews.model.results import EMBEDDED, MS, RESULT_TABLES, STACK, ResultTable
from pageviews.store.base import QueryResult
from pageviews.store.pinot_store import PinotStore
from pageviews.store.readonly import run_read_only
from pageviews.store.schema import result_table_ddl

# A snapshot is refused rather than silently cut short past this many rows per table.
MAX_ROWS = 1_000_000

ARROW_TYPES = {"BIGINT": pa.int64(), "INT": pa.int32(), "DOUBLE": pa.float64()}
ARROW_TYPES |= {"STRING": pa.string(), "BOOLEAN": pa.bool_(), MS: pa.int64()}

# Freshness as far as Pinot can tell: the newest window start seen is a lower bound of the
# newest event time, and a final window's end is a lower bound of the watermark.
STATUS_VIEW = """CREATE VIEW pipeline_status AS SELECT
    (SELECT max(window_start) FROM pageview_tumbling) AS newest_event_at,
    (SELECT max(window_end) FROM pageview_tumbling WHERE is_final) AS watermark_at,
    false AS input_ended,
    CAST(0 AS BIGINT) AS records_received,
    CAST({gap_ms} AS BIGINT) AS user_session_gap_ms"""


class PinotSnapshotStore:
    def __init__(
        self,
        pinot: PinotStore,
        max_age_s: float = 2.0,
        user_session_gap_ms: int = WindowConfig().user_session_gap_ms,
    ) -> None:
        self.pinot = pinot
        self.max_age_s = max_age_s
        self.user_session_gap_ms = int(user_session_gap_ms)
        self.description = f"snapshot of {pinot.description}"
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._taken = 0.0

    def query(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        with self._lock:
            if self._con is None or time.monotonic() - self._taken > self.max_age_s:
                self.refresh()
            assert self._con is not None
            return run_read_only(self._con, sql, params)

    def refresh(self) -> None:
        """Copy every result table from Pinot now."""
        con = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")
        for table in RESULT_TABLES:
            copy_table(self.pinot, con, table)
        con.execute(STATUS_VIEW.format(gap_ms=self.user_session_gap_ms))
        con.execute("SET enable_external_access = false")
        if self._con is not None:
            self._con.close()
        self._con, self._taken = con, time.monotonic()


def copy_table(
    pinot: PinotStore, con: duckdb.DuckDBPyConnection, table: ResultTable, schema: str = "main"
) -> None:
    """Create `<schema>.<table>` as the embedded runtime has it, and fill it from Pinot."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(f"USE {schema}")
    try:
        con.execute(result_table_ddl(table))
        stack_columns = table.columns_of(STACK)
        names = [c.name for c in stack_columns]
        where = " WHERE deleted = false" if table.name == "cleaned_users" else ""
        sql = f"SELECT {', '.join(names)} FROM {table.name}{where} LIMIT {MAX_ROWS}"  # noqa: S608 - catalogue names
        result = pinot.query(sql)
        if len(result.rows) >= MAX_ROWS:
            raise StoreError(f"{table.name} has {MAX_ROWS:,}+ rows in Pinot: too many to copy")
        columns = list(zip(*result.rows, strict=True)) if result.rows else [() for _ in names]
        arrow = pa.table(
            {
                c.name: pa.array(list(values), type=ARROW_TYPES[c.type])
                for c, values in zip(stack_columns, columns, strict=True)
            }
        )
        con.register("pinot_rows", arrow)
        select = _select_list(table)
        con.execute(f"INSERT INTO {table.name} BY NAME SELECT {select} FROM pinot_rows")  # noqa: S608
        con.unregister("pinot_rows")
    finally:
        con.execute("USE main")


def _select_list(table: ResultTable) -> str:
    """The embedded table's columns from Pinot's: ms to TIMESTAMPTZ, Kafka position to seq."""
    items = []
    for column in table.columns_of(EMBEDDED):
        if column.name == "seq":
            items.append(
                f"row_number() OVER (ORDER BY {table.time_column}, event_partition, event_offset)"
                " AS seq"
            )
        elif column.type == MS:
            items.append(f"make_timestamptz({column.name} * 1000) AS {column.name}")
        else:
            items.append(column.name)
    return ", ".join(items)
