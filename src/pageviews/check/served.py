"""`pageviews check --backend stack`: the oracle over Kafka's raw records against Pinot's tables.

1. The raw records are read back from Kafka (stack/readback.py `input_records`), each with its
   partition, offset and the greatest event time before it in its partition.
2. The embedded pipeline stores them in a scratch data dir: that fills the raw tables the oracle
   reads, with seq = the record's index. (Its own results are not what is checked here.)
3. The job's late rows are read from Pinot with their Kafka positions and mapped to seqs.
4. The oracle recomputes every table by the Flink job's rules (check/oracle.py `StackRules`):
   the job's watermark depends on how partitions interleave, so which records are late comes
   from its late rows, and each late row must be one its own partition allows. Every window,
   session, country row and user is then recomputed exactly over what was not late.
5. Per view, the valid records must be the counted ones plus the late ones (conservation).
6. Every table is compared as a multiset; `late_events` on (view, window_start, seq).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from pageviews.check.diff import compare_tables, format_diffs
from pageviews.check.oracle import StackRules, expected_tables
from pageviews.config import WindowConfig
from pageviews.errors import StoreError
from pageviews.model.results import LATE_EVENTS, RESULT_TABLES, WINDOW_TABLES, ResultTable
from pageviews.model.windows import Hopping
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.inputs import InputSpec
from pageviews.stack.readback import InputRecord
from pageviews.store.duckdb_store import connect
from pageviews.store.pinot_copy import MAX_ROWS, copy_table
from pageviews.store.pinot_store import PinotStore

SERVED_SCHEMA = "served"
POSITIONS, REPORTED = "stack_positions", "stack_reported"


@dataclass(frozen=True)
class Conservation:
    """One view: valid (record, window) pairs = counted + late."""

    view: str
    valid: int
    counted: int
    late: int

    @property
    def ok(self) -> bool:
        return self.valid == self.counted + self.late

    def line(self, width: int) -> str:
        verdict = "OK" if self.ok else f"MISMATCH: {self.valid - self.counted - self.late:+,} off"
        return (
            f"{self.view:<{width}}  valid {self.valid:,} = counted {self.counted:,} "
            f"+ late {self.late:,}  {verdict}"
        )


def write_input(lines: Sequence[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))
    return path


def store_raw(input_file: Path, data_dir: Path, config: WindowConfig) -> None:
    """Run the embedded pipeline over the file, so its raw tables hold every event with a seq."""
    spec = InputSpec(kind="file", path=str(input_file))
    run_pipeline(RunOptions(input=spec, data_dir=data_dir, config=config))


def check_stack(
    records: Sequence[InputRecord], pinot: PinotStore, config: WindowConfig, work_dir: Path
) -> tuple[str, bool]:
    """(report, every table matched and every view conserved) for a finished replay."""
    data_dir = work_dir / "data"
    store_raw(write_input([r.line for r in records], work_dir / "input.jsonl"), data_dir, config)
    con = connect(data_dir)
    try:
        _register_positions(con, records)
        _reported_late(con, pinot)
        expected = expected_tables(con, config, StackRules(bounds=POSITIONS, reported=REPORTED))
        tables = [t for t in RESULT_TABLES if t.name in expected and t is not LATE_EVENTS]
        for table in tables:
            copy_table(pinot, con, table, SERVED_SCHEMA)
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {SERVED_SCHEMA}.late_events AS
            SELECT view, make_timestamptz(start_ms * 1000) AS window_start, seq FROM {REPORTED}
            """  # noqa: S608 -- module constants
        )
        diffs = compare_tables(
            con,
            {t.name: expected[t.name] for t in [*tables, LATE_EVENTS]},
            schema=SERVED_SCHEMA,
        )
        conserved = [_conservation(con, table, config) for table in WINDOW_TABLES]
        width = max(len(c.view) for c in conserved)
        report = "\n".join(
            [format_diffs(diffs), "per view, valid = counted + late:"]
            + [c.line(width) for c in conserved]
        )
        return report, all(d.ok for d in diffs) and all(c.ok for c in conserved)
    finally:
        con.close()


def _register_positions(con: duckdb.DuckDBPyConnection, records: Sequence[InputRecord]) -> None:
    """stack_positions(seq, record_type, event_partition, event_offset, prior_max_ms): where
    each record is in Kafka, and the bound its partition puts on the watermark there."""
    stored = _scalar(
        con,
        "SELECT count(*) FROM (SELECT seq FROM raw_pageviews UNION ALL SELECT seq FROM "
        "raw_usersessions UNION ALL SELECT seq FROM raw_users UNION ALL SELECT seq FROM "
        "dead_letters)",
    )
    # Each record is one line, so its seq is its index; a line split in two would shift them.
    if stored != len(records):
        raise StoreError(f"stored {stored} of {len(records)} records: seqs would not match")
    table = pa.table(
        {
            "seq": pa.array(range(len(records)), pa.int64()),
            "record_type": pa.array([r.record_type for r in records], pa.string()),
            "event_partition": pa.array([r.partition for r in records], pa.int32()),
            "event_offset": pa.array([r.offset for r in records], pa.int64()),
            "prior_max_ms": pa.array([r.prior_max_ms for r in records], pa.int64()),
        }
    )
    con.register("positions_arrow", table)
    con.execute(f"CREATE TEMP TABLE {POSITIONS} AS FROM positions_arrow")
    con.unregister("positions_arrow")


def _reported_late(con: duckdb.DuckDBPyConnection, pinot: PinotStore) -> None:
    """stack_reported(view, start_ms, seq): Pinot's late rows at the seq of their record (NULL
    for a row that names no record read back, so that it shows as unexpected)."""
    result = pinot.query(
        "SELECT view, window_start, event_partition, event_offset FROM late_events LIMIT ?",
        [MAX_ROWS],
    )
    if len(result.rows) >= MAX_ROWS:
        raise StoreError(f"late_events has {MAX_ROWS:,}+ rows in Pinot: too many to check")
    columns = list(zip(*result.rows, strict=True)) if result.rows else [(), (), (), ()]
    records_of_view = {
        table.name: table.windowing.records.name for table in WINDOW_TABLES if table.windowing
    }
    con.register(
        "late_arrow",
        pa.table(
            {
                "view": pa.array(columns[0], pa.string()),
                "start_ms": pa.array(columns[1], pa.int64()),
                "event_partition": pa.array(columns[2], pa.int32()),
                "event_offset": pa.array(columns[3], pa.int64()),
                "record_type": pa.array([records_of_view.get(v) for v in columns[0]]),
            }
        ),
    )
    con.execute(
        f"""
        CREATE TEMP TABLE {REPORTED} AS
        SELECT late.view, late.start_ms, position.seq
        FROM late_arrow AS late
        LEFT JOIN {POSITIONS} AS position USING (record_type, event_partition, event_offset)
        """  # noqa: S608 -- module constants
    )
    con.unregister("late_arrow")


def _conservation(
    con: duckdb.DuckDBPyConnection, table: ResultTable, config: WindowConfig
) -> Conservation:
    """Valid (record, window) pairs of a view against Pinot's counts and late rows."""
    assert table.windowing is not None
    windower = table.windowing.windower(config)
    per_record = windower.windows_per_event if isinstance(windower, Hopping) else 1
    count_column = table.count_column.name
    records = table.windowing.records.table
    valid = _scalar(con, f"SELECT count(*) * $n FROM {records}", {"n": per_record})  # noqa: S608
    served = f"{SERVED_SCHEMA}.{table.name}"
    counted = _scalar(con, f"SELECT sum({count_column}) FROM {served}")  # noqa: S608
    late_sql = f"SELECT count(*) FROM {REPORTED} WHERE view = $view"  # noqa: S608
    late = _scalar(con, late_sql, {"view": table.name})
    return Conservation(table.name, valid, counted, late)


def _scalar(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, object] | None = None
) -> int:
    rows = con.execute(sql, params or {}).fetchall()
    return int(rows[0][0] or 0)
