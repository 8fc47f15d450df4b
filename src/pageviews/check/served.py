"""`pageviews check --backend stack`: the oracle over Kafka's raw events against Pinot's tables.

1. The raw events are read back from Kafka (stack/readback.py) into an input file.
2. The embedded pipeline stores them in a scratch data dir: that fills the raw tables the oracle
   reads. (It also computes the embedded results; they are not what is checked here.)
3. Each result table is fetched from the serving store into the schema `served`: for Pinot, a
   PinotSnapshotStore, which gives Pinot's rows the embedded tables' columns and types.
4. The oracle recomputes every table from the raw tables alone, and `served.*` is compared
   with it as a multiset, as for the embedded runtime.

`late_events` is compared on (view, window_start): a Kafka record has no seq.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pageviews.check.diff import compare_tables, format_diffs
from pageviews.check.oracle import expected_tables
from pageviews.config import WindowConfig
from pageviews.model.results import RESULT_TABLES
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.inputs import InputSpec
from pageviews.store.base import Store
from pageviews.store.duckdb_store import connect

SERVED_SCHEMA = "served"


def write_input(lines: list[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def store_raw(input_file: Path, data_dir: Path, config: WindowConfig) -> None:
    """Run the embedded pipeline over the file, so its raw tables hold every event with a seq."""
    spec = InputSpec(kind="file", path=str(input_file))
    run_pipeline(RunOptions(input=spec, data_dir=data_dir, config=config))


def load_served(con: duckdb.DuckDBPyConnection, store: Store, tables: list[str]) -> None:
    """Copy each table of the store (which speaks the embedded tables' SQL) into `served`."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SERVED_SCHEMA}")
    for table in tables:
        result = store.query(f"SELECT * FROM {table}")  # noqa: S608 - a known table name
        target = f"{SERVED_SCHEMA}.{table}"
        con.execute(f"CREATE OR REPLACE TABLE {target} AS FROM main.{table} LIMIT 0")
        if result.rows:
            columns = ", ".join(result.columns)
            marks = ", ".join("?" for _ in result.columns)
            insert = f"INSERT INTO {target} ({columns}) VALUES ({marks})"  # noqa: S608
            con.executemany(insert, result.rows)


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
        tables = [t.name for t in RESULT_TABLES if t.name in expected]
        load_served(con, store, tables)
        diffs = compare_tables(con, {t: expected[t] for t in tables}, schema=SERVED_SCHEMA)
        return format_diffs(diffs), all(diff.ok for diff in diffs)
    finally:
        con.close()
