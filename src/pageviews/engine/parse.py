"""A batch of lines becomes typed rows of valid records, and reasons for the bad ones.

The compiled scan (engine/line_scan.py) accepts the plain lines that make up almost all input;
the lines it leaves pending go to the precise SQL checks (engine/validate.py), which accept them
or give the reason they are bad. Valid rows come back as one Arrow table in seq order; the
pending lines and their precise rows stay in temp tables batch_pending_lines and batch_precise
for the rest of the batch, so dead letters can be written with their raw text.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from pageviews.engine.line_scan import scan
from pageviews.engine.scanned_rows import accepted_rows
from pageviews.engine.validate import precise_rows


@dataclass(frozen=True)
class ParsedBatch:
    # Valid records in seq order: seq, record_type, op, the model's columns, event_time_ms.
    valid: pa.Table
    # Bad lines: their rows (with a reason) are in batch_precise when there are any.
    dead: int


def parse_batch(
    con: duckdb.DuckDBPyConnection,
    lines: pa.StringArray,
    pre_reasons: pa.StringArray | None,
    first_seq: int,
    received_ms: int,
    *,
    macro: bool = False,
) -> ParsedBatch:
    """Parse the lines numbered from first_seq.

    With `macro`, use the precise select that validate.define_macros() made on this connection.
    """
    n = len(lines)
    has_reason = (
        np.zeros(n, np.bool_)
        if pre_reasons is None
        else pre_reasons.is_valid().to_numpy(zero_copy_only=False)
    )
    scanned = scan(lines, has_reason, received_ms)
    valid = accepted_rows(scanned, first_seq)
    pending = np.flatnonzero(~scanned.accepted)
    if not len(pending):
        return ParsedBatch(valid, dead=0)
    indices = pa.array(pending)
    _replace_temp_table(
        con,
        "batch_pending_lines",
        pa.table(
            {
                "seq": pa.array(pending + first_seq, pa.int64()),
                "line": lines.take(indices),
                "pre_reason": (
                    pa.nulls(len(pending), pa.string())
                    if pre_reasons is None
                    else pre_reasons.take(indices)
                ),
            }
        ),
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE batch_precise AS FROM {precise_rows(macro=macro)}",
        {"received_ms": received_ms},
    )
    also_valid = (
        con.sql("SELECT * EXCLUDE (reason) FROM batch_precise WHERE reason IS NULL")
        .to_arrow_table()
        .cast(valid.schema)
    )
    dead = len(pending) - also_valid.num_rows
    if not also_valid.num_rows:
        return ParsedBatch(valid, dead)
    merged = pa.concat_tables([valid, also_valid])
    order = np.argsort(merged["seq"].to_numpy(), kind="stable")
    return ParsedBatch(merged.take(pa.array(order)), dead)


def _replace_temp_table(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    con.register("batch_rows_arrow", rows)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS FROM batch_rows_arrow")
    con.unregister("batch_rows_arrow")
