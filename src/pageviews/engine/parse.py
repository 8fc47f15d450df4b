"""A batch of lines becomes temp table batch_parsed: one typed row, or a reason, per line.

The compiled scan (engine/line_scan.py) accepts the plain lines that make up almost all input;
the lines it leaves pending go to the precise SQL checks (engine/validate.py), which accept them
or give the reason they are bad. The pending lines stay in temp table batch_pending_lines for
the batch, so dead letters can be written with their raw text.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from pageviews.engine.line_scan import scan
from pageviews.engine.scanned_rows import accepted_rows
from pageviews.engine.validate import precise_rows


def parse_batch(
    con: duckdb.DuckDBPyConnection,
    lines: pa.StringArray,
    pre_reasons: pa.StringArray | None,
    first_seq: int,
    received_ms: int,
    *,
    macro: bool = False,
) -> None:
    """Fill batch_parsed (and batch_pending_lines) for lines numbered from first_seq.

    With `macro`, use the precise select that validate.define_macros() made on this connection.
    """
    n = len(lines)
    has_reason = (
        np.zeros(n, np.bool_)
        if pre_reasons is None
        else pre_reasons.is_valid().to_numpy(zero_copy_only=False)
    )
    scanned = scan(lines, has_reason, received_ms)
    rows = accepted_rows(scanned, first_seq)
    rows = rows.add_column(1, "reason", pa.nulls(len(rows), pa.string()))
    _replace_temp_table(con, "batch_parsed", rows)
    pending = np.flatnonzero(~scanned.accepted)
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
    if len(pending):
        con.execute(
            f"INSERT INTO batch_parsed FROM {precise_rows(macro=macro)}",
            {"received_ms": received_ms},
        )


def _replace_temp_table(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    con.register("batch_rows_arrow", rows)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS FROM batch_rows_arrow")
    con.unregister("batch_rows_arrow")
