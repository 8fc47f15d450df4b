"""A micro-batch's records as arrays, keyed for one view, and the late_events rows it produces."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from pageviews.engine.packing import I64, Bools
from pageviews.model.results import ResultTable


def ints(column: pa.ChunkedArray | pa.Array) -> I64:
    """An int64 numpy array from an Arrow column without nulls."""
    return np.asarray(column.to_numpy(), dtype=np.int64)


@dataclass(frozen=True)
class Events:
    """Valid records of one type in one batch, in seq order, keyed for one view."""

    seq: I64
    user: I64
    key: I64  # the view's key: a user id, or the code of a string (see KeyCodes)
    t: I64  # event time, epoch ms
    w_at: I64  # W at the record's own seq

    def where(self, mask: Bools) -> Events:
        return Events(
            self.seq[mask], self.user[mask], self.key[mask], self.t[mask], self.w_at[mask]
        )


@dataclass
class LateRows:
    """late_events rows: which view's window (by its start) each record missed."""

    parts: list[tuple[str, I64, I64]] = field(default_factory=list)

    def add(self, table: ResultTable, window_start: I64, seq: I64) -> None:
        if len(seq):
            self.parts.append((table.name, window_start, seq))

    def table(self, lines: pa.Array, first_seq: int) -> pa.Table:
        """(view, ws, raw, seq); raw is the record's input line."""
        names = [np.full(len(seq), name, dtype=object) for name, _, seq in self.parts]
        starts = [ws for _, ws, _ in self.parts]
        seqs = [seq for _, _, seq in self.parts]
        seq = np.concatenate(seqs) if seqs else np.empty(0, np.int64)
        return pa.table(
            {
                "view": pa.array(np.concatenate(names) if names else [], pa.string()),
                "ws": pa.array(np.concatenate(starts) if starts else [], pa.int64()),
                "raw": lines.take(pa.array(seq - first_seq)),
                "seq": pa.array(seq, pa.int64()),
            }
        )
