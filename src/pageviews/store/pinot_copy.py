"""Copy a result table from Pinot into DuckDB, shaped as the embedded runtime's table.

`pageviews check --backend stack` compares Pinot's tables with the oracle's in DuckDB. The copy
follows the embedded tables: epoch ms become TIMESTAMPTZ, users whose latest version is a
delete are left out, and the append tables get a `seq` in (time, partition, offset) order.
Readers (the dashboard, `pageviews query`) ask Pinot itself (store/pinot_store.py).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from pageviews.errors import StoreError
from pageviews.model.results import EMBEDDED, MS, STACK, ResultTable
from pageviews.store.pinot_store import PinotStore
from pageviews.store.schema import result_table_ddl

# A copy is refused rather than silently cut short past this many rows per table.
MAX_ROWS = 1_000_000

ARROW_TYPES = {"BIGINT": pa.int64(), "INT": pa.int32(), "DOUBLE": pa.float64()}
ARROW_TYPES |= {"STRING": pa.string(), "BOOLEAN": pa.bool_(), MS: pa.int64()}


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
