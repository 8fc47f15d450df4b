"""A batch of lines becomes typed rows of valid records, and reasons for the bad ones.

The compiled scan (validation/scan.py) accepts the plain lines that make up almost all input;
the lines it leaves pending go to the precise SQL checks (validation/precise.py), which accept them
or give the reason they are bad. Valid rows come back as one Arrow table; the pending lines and
their precise rows stay in temp tables batch_pending_lines and batch_precise for the rest of the
batch, so dead letters can be written with their raw text.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from pageviews.engine.packing import I64
from pageviews.model.reasons import LINE_TOO_LONG
from pageviews.model.records import MAX_LINE_BYTES, RECORD_TYPES, dead_letter_raw
from pageviews.validation.precise import precise_rows
from pageviews.validation.scan import scan
from pageviews.validation.scanned_rows import accepted_rows


def type_codes(name: str) -> str:
    """SQL list of the type_code values of a record type name ("user": upserts and deletes)."""
    return ", ".join(str(code) for code, rtype in enumerate(RECORD_TYPES) if rtype.name == name)


@dataclass(frozen=True)
class ParsedBatch:
    # Valid records (seq, record_type, op, the model's columns, event_time_ms): the scan's rows
    # in seq order, then the few that only the precise checks accepted.
    valid: pa.Table
    record_type: I64  # per row of valid: index into RECORD_TYPES
    in_seq_order: bool
    dead: int  # bad lines; their rows, with a reason, are in batch_precise

    def with_type_codes(self) -> pa.Table:
        """valid with a column type_code: the record_type index, for SQL to filter on."""
        return self.valid.append_column("type_code", pa.array(self.record_type, pa.int64()))

    def seq_order(self) -> I64:
        """Row indices of valid, in seq order."""
        if self.in_seq_order:
            return np.arange(self.valid.num_rows)
        return np.argsort(self.valid["seq"].to_numpy(), kind="stable")


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
        else np.asarray(pre_reasons.is_valid().to_numpy(zero_copy_only=False), np.bool_)
    )
    scanned = scan(lines, has_reason, received_ms)
    valid = accepted_rows(scanned, first_seq)
    pending = np.flatnonzero(~scanned.accepted)
    if not len(pending):
        return ParsedBatch(valid, scanned.record_type, in_seq_order=True, dead=0)
    indices = pa.array(pending)
    pending_lines, pending_reasons = _cut_oversize(
        lines.take(indices),
        pa.nulls(len(pending), pa.string()) if pre_reasons is None else pre_reasons.take(indices),
    )
    _replace_temp_table(
        con,
        "batch_pending_lines",
        pa.table(
            {
                "seq": pa.array(pending + first_seq, pa.int64()),
                "line": pending_lines,
                "pre_reason": pending_reasons,
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
        return ParsedBatch(valid, scanned.record_type, in_seq_order=True, dead=dead)
    labels = [(rtype.name, rtype.op) for rtype in RECORD_TYPES]
    also_types = [
        labels.index(label)
        for label in zip(
            also_valid["record_type"].to_pylist(), also_valid["op"].to_pylist(), strict=True
        )
    ]
    return ParsedBatch(
        pa.concat_tables([valid, also_valid]),
        np.concatenate([scanned.record_type, np.array(also_types, np.int64)]),
        in_seq_order=False,
        dead=dead,
    )


def _cut_oversize(
    lines: pa.StringArray, pre_reasons: pa.StringArray
) -> tuple[pa.StringArray, pa.StringArray]:
    """Lines over the limit get their reason now and are cut to what their dead letter keeps
    (model/records.py dead_letter_raw), whatever source they came from."""
    offsets = np.frombuffer(lines.buffers()[1], np.int32)[
        lines.offset : lines.offset + len(lines) + 1
    ]
    oversize = np.flatnonzero(np.diff(offsets) > MAX_LINE_BYTES)
    if not len(oversize):
        return lines, pre_reasons
    texts = lines.to_pylist()
    reasons = pre_reasons.to_pylist()
    for i in oversize.tolist():
        texts[i] = dead_letter_raw(texts[i])
        reasons[i] = reasons[i] or LINE_TOO_LONG.text()
    return pa.array(texts, pa.string()), pa.array(reasons, pa.string())


def _replace_temp_table(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> None:
    con.register("batch_rows_arrow", rows)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS FROM batch_rows_arrow")
    con.unregister("batch_rows_arrow")
