"""A micro-batch's page views as arrays, and the late_events rows it produces."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from pageviews.engine import views
from pageviews.engine.packing import I64, Bools


def ints(column: pa.ChunkedArray | pa.Array) -> I64:
    """An int64 numpy array from an Arrow column without nulls."""
    return np.asarray(column.to_numpy(), dtype=np.int64)


@dataclass(frozen=True)
class PageViews:
    """Valid page views of one batch, in seq order."""

    seq: I64
    user: I64
    source: I64  # code of the source string (see KeyCodes)
    t: I64  # event time, epoch ms
    w_at: I64  # W at the page view's own seq

    def where(self, mask: Bools) -> PageViews:
        return PageViews(
            self.seq[mask], self.user[mask], self.source[mask], self.t[mask], self.w_at[mask]
        )


@dataclass
class LateRows:
    """late_events rows: which view's window (by its start) each page view missed."""

    parts: list[tuple[str, I64, I64]] = field(default_factory=list)

    def add(self, view: str, window_start: I64, seq: I64) -> None:
        if len(seq):
            self.parts.append((views.TABLES[view], window_start, seq))

    def table(self, lines: pa.Array, first_seq: int) -> pa.Table:
        """(view, ws, raw, seq); raw is the page view's input line."""
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
