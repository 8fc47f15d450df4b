"""The lines the scan (validation/scan.py) accepted, as an Arrow table of typed rows.

Its columns, their order and types are those of the precise checks' rows (validation/precise.py)
without `reason`, so the rows of both can be put together.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from pageviews.engine.packing import I64, Bools
from pageviews.model.records import RECORD_TYPES, Kind
from pageviews.validation.precise import OUTPUT_COLUMNS
from pageviews.validation.scan import KEYS, STRING_SLOTS, Scanned


def accepted_rows(scanned: Scanned, first_seq: int) -> pa.Table:
    record_type = pa.array(scanned.record_type)
    columns: dict[str, pa.Array] = {
        "seq": pa.array(scanned.line + first_seq, pa.int64()),
        "record_type": pa.array([rtype.name for rtype in RECORD_TYPES]).take(record_type),
        "op": pa.array([rtype.op for rtype in RECORD_TYPES], pa.string()).take(record_type),
    }
    for column, field in OUTPUT_COLUMNS.items():
        k = KEYS.index(field.name)
        present, value = scanned.present[k], scanned.value[k]
        if field.choices:
            codes = pa.array(value, mask=~present)
            columns[column] = pa.array(field.choices, pa.string()).take(codes)
        elif field.kind is Kind.STRING:
            slot = int(STRING_SLOTS[k])
            columns[column] = _strings(scanned.offsets[slot], scanned.text[slot], present)
        else:
            arrow_type = pa.int32() if field.name == "age" else pa.int64()
            columns[column] = pa.array(value, arrow_type, mask=~present)
    columns["event_time_ms"] = pa.array(scanned.event_time_ms, pa.int64())
    return pa.table(columns)


def _strings(offsets: I64, text: np.ndarray, present: Bools) -> pa.Array:
    if offsets[-1] >= 2**31:
        raise OverflowError("a batch's strings exceed 2 GiB")
    rows = len(present)
    return pa.StringArray.from_buffers(
        rows,
        pa.py_buffer(offsets.astype(np.int32)),
        pa.py_buffer(text[: offsets[-1]]),
        pa.py_buffer(np.packbits(present, bitorder="little")),
        null_count=int(rows - np.count_nonzero(present)),
    )
