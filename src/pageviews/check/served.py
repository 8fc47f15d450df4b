"""`pageviews check --backend stack`: the oracle over Kafka's raw events against Pinot's tables.

1. The raw events are read back from Kafka (stack/readback.py) into an input file.
2. The embedded pipeline stores them in a scratch data dir: that fills the raw tables the oracle
   reads. (It also computes the embedded results; they are not what is checked here.)
3. Each result table is fetched from the serving store (Pinot) into the schema `served`.
4. The oracle recomputes every table from the raw tables alone, and `served.*` is compared
   with it as a multiset, as for the embedded runtime.

`late_events` is compared on (view, window_start): a Kafka record has no seq.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from pageviews.check.diff import compare_tables, format_diffs
from pageviews.check.oracle import expected_tables
from pageviews.config import WindowConfig
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.inputs import InputSpec
from pageviews.store.base import Store
from pageviews.store.duckdb_store import connect
from pageviews.store.schema import RESULT_TABLES

SERVED_SCHEMA = "served"
# Columns that exist only in the embedded store, or only in the served one.
_EMBEDDED_ONLY = {"seq"}
_SERVED_LIMIT = 100_000_000  # Pinot's default LIMIT is 10: ask for everything


def write_input(lines: list[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def store_raw(input_file: Path, data_dir: Path, config: WindowConfig) -> None:
    """Run the embedded pipeline over the file, so its raw tables hold every event with a seq."""
    spec = InputSpec(kind="file", path=str(input_file))
    run_pipeline(RunOptions(input=spec, data_dir=data_dir, config=config))


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [(str(name), str(kind)) for name, kind in rows if name not in _EMBEDDED_ONLY]


def _to_duckdb(value: Any, kind: str) -> Any:
    """Pinot keeps times as epoch ms; the embedded tables as TIMESTAMPTZ."""
    if value is None or "TIMESTAMP" not in kind:
        return value
    if isinstance(value, datetime):
        return value
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def load_served(con: duckdb.DuckDBPyConnection, store: Store, tables: list[str]) -> None:
    """Copy each served table into `served.<table>`, with the embedded table's columns."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SERVED_SCHEMA}")
    for table in tables:
        columns = _columns(con, table)
        names = [name for name, _ in columns]
        extra = ["deleted"] if table == "cleaned_users" else []
        result = store.query(
            f"SELECT {', '.join(names + extra)} FROM {table} LIMIT {_SERVED_LIMIT}"  # noqa: S608
        )
        rows = [
            tuple(_to_duckdb(v, kind) for v, (_, kind) in zip(row, columns, strict=False))
            for row in result.rows
            # A user whose latest version is a delete is kept as a row marked deleted.
            if not (extra and row[-1] in (True, 1, "true"))
        ]
        definition = ", ".join(f"{name} {kind}" for name, kind in columns)
        con.execute(f"CREATE OR REPLACE TABLE {SERVED_SCHEMA}.{table} ({definition})")
        if rows:
            marks = ", ".join("?" for _ in names)
            insert = f"INSERT INTO {SERVED_SCHEMA}.{table} VALUES ({marks})"  # noqa: S608
            con.executemany(insert, rows)


def check_served(
    lines: list[str], store: Store, config: WindowConfig, work_dir: Path
) -> tuple[str, bool]:
    """(report, every table matched) for the served results of the input `lines`."""
    data_dir = work_dir / "data"
    store_raw(write_input(lines, work_dir / "input.jsonl"), data_dir, config)
    con = connect(data_dir)
    try:
        expected = expected_tables(con, config)
        con.execute("ALTER TABLE expected_late_events DROP COLUMN seq")
        tables = [t for t in RESULT_TABLES if t in expected]
        load_served(con, store, tables)
        diffs = compare_tables(con, {t: expected[t] for t in tables}, schema=SERVED_SCHEMA)
        return format_diffs(diffs), all(diff.ok for diff in diffs)
    finally:
        con.close()
