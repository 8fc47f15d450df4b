"""DuckDB DDL: raw records (from the record model), results (from the result catalogue), state.

Naming: raw_* hold every accepted record in arrival order (`seq`), times as epoch ms.
Result tables carry the names users query; their times are TIMESTAMPTZ in UTC.
state_* tables are the engine's own and are never shown to users.
"""

from __future__ import annotations

import re

from pageviews.model.records import RECORD_TYPES
from pageviews.model.results import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    EMBEDDED,
    INT,
    MS,
    RESULT_TABLES,
    STRING,
    ResultTable,
)


def _raw_columns() -> dict[str, dict[str, str]]:
    """Columns and types of each raw table, in model order; user upserts and deletes share one."""
    columns_by_table: dict[str, dict[str, str]] = {}
    for record_type in RECORD_TYPES:
        columns = columns_by_table.setdefault(record_type.table, {"seq": "BIGINT NOT NULL"})
        if record_type.op is not None:
            columns.setdefault("op", "VARCHAR NOT NULL")
        for field in record_type.fields:
            sql_type = "INTEGER" if field.name == "age" else field.duckdb_type
            columns.setdefault(field.column_name, sql_type)
    return columns_by_table


# {raw table: {column: DuckDB type}}, seq first.
RAW_COLUMNS = _raw_columns()

# {raw table: record type name}: the `type` whose accepted records each raw table stores.
RAW_TABLE_TYPES = {record_type.table: record_type.name for record_type in RECORD_TYPES}


def _raw_table_ddl() -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ("
        + ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        + ")"
        for table, columns in RAW_COLUMNS.items()
    ]


# DuckDB's type of each logical column type of the result catalogue.
_DUCKDB_TYPES = {
    BIGINT: "BIGINT",
    INT: "INTEGER",
    DOUBLE: "DOUBLE",
    STRING: "VARCHAR",
    BOOLEAN: "BOOLEAN",
    MS: "TIMESTAMPTZ",
}


def result_table_ddl(table: ResultTable) -> str:
    columns = ", ".join(
        f"{c.name} {_DUCKDB_TYPES[c.type]}" + ("" if c.nullable else " NOT NULL")
        for c in table.columns_of(EMBEDDED)
    )
    return f"CREATE TABLE IF NOT EXISTS {table.name} ({columns})"


# Watermark advances that no record caused: idle ticks in live mode, and the end of a replayed
# input (watermark_ms = END_OF_INPUT_MS). Each takes a seq, so replays see them in order.
TICKS_TABLE = "raw_ticks"
TICKS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TICKS_TABLE} (seq BIGINT NOT NULL, watermark_ms BIGINT NOT NULL)"
)

# Key/value state: positions, watermark inputs and the run's configuration (as JSON text).
META_DDL = "CREATE TABLE IF NOT EXISTS state_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"


# One row about the run, for dashboards: how far event time and the watermark have got.
STATUS_VIEW = "pipeline_status"  # the view of STATUS_VIEW_DDL
STATUS_VIEW_DDL = """CREATE OR REPLACE VIEW pipeline_status AS
WITH meta AS (
    SELECT
        max(CASE WHEN key = 'max_event_ms' THEN CAST(value AS BIGINT) END) AS max_event_ms,
        max(CASE WHEN key = 'max_tick_ms' THEN CAST(value AS BIGINT) END) AS max_tick_ms,
        max(CASE WHEN key = 'config'
            THEN CAST(json_extract(value, '$.lateness_ms') AS BIGINT) END) AS lateness_ms,
        max(CASE WHEN key = 'config'
            THEN CAST(json_extract(value, '$.user_session_gap_ms') AS BIGINT) END)
            AS user_session_gap_ms,
        max(CASE WHEN key = 'next_seq' THEN CAST(value AS BIGINT) END) AS records_received,
        coalesce(bool_or(key = 'ended' AND value = 'true'), false) AS input_ended
    FROM state_meta
), watermark AS (
    SELECT *, greatest(max_event_ms - lateness_ms, max_tick_ms) AS watermark_ms FROM meta
)
SELECT
    -- Sentinels (no data yet, +infinity at the end of input) show as NULL.
    CASE WHEN max_event_ms > 0 THEN make_timestamptz(max_event_ms * 1000) END
        AS newest_event_at,
    CASE WHEN watermark_ms > 0 AND NOT input_ended THEN make_timestamptz(watermark_ms * 1000) END
        AS watermark_at,
    input_ended,
    coalesce(records_received, 0) AS records_received,
    user_session_gap_ms
FROM watermark"""


# What readers may name in a query (store/readonly.py): the raw_* tables, the result catalogue's
# tables and the status view. Never the engine's own state_* tables.
QUERYABLE: tuple[str, ...] = (
    *RAW_COLUMNS,
    TICKS_TABLE,
    *(table.name for table in RESULT_TABLES),
    STATUS_VIEW,
)


def all_ddl() -> list[str]:
    return [
        *_raw_table_ddl(),
        TICKS_DDL,
        META_DDL,
        *map(result_table_ddl, RESULT_TABLES),
        STATUS_VIEW_DDL,
    ]


_CREATED = re.compile(r"CREATE (?:OR REPLACE )?(?:TABLE|VIEW) (?:IF NOT EXISTS )?(\w+)")


def our_table_names() -> set[str]:
    """Every table and view that a pageviews database may hold: those of `all_ddl`, and the
    engine's own state tables. Any other one means that another program made the file."""
    from pageviews.engine.state import STATE_DDL

    return {match.group(1) for ddl in [*all_ddl(), *STATE_DDL] for match in _CREATED.finditer(ddl)}
