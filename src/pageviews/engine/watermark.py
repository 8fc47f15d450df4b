"""The watermark: W(seq) = max(max event time so far - lateness, max tick so far).

Computed per seq over the whole micro-batch with one running max, so a batch gives exactly
the watermarks that record-at-a-time processing would.

    arrivals:  seq 0 (t=100)  seq 1 (t=40)  seq 2 (t=130)    lateness L = 30
    W:              70            70             100
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pageviews.engine.packing import I64
from pageviews.engine.state import NO_WATERMARK_MS


@dataclass(frozen=True)
class WatermarkState:
    max_event_ms: int = NO_WATERMARK_MS
    max_tick_ms: int = NO_WATERMARK_MS

    def watermark_ms(self, lateness_ms: int) -> int:
        return max(self.max_event_ms - lateness_ms, self.max_tick_ms)


@dataclass(frozen=True)
class BatchWatermarks:
    """W at each step of the batch: the state before it (seq -1), each valid record, the tick."""

    seqs: I64  # ascending
    w: I64  # never decreasing
    state: WatermarkState  # after the batch

    def first_seq_reaching(self, times: I64) -> I64:
        """The first seq of the batch at which W >= t, for times that W reaches."""
        return self.seqs[np.searchsorted(self.w, times, side="left")]


def compute_batch_watermarks(
    previous: WatermarkState,
    lateness_ms: int,
    seqs: I64,
    event_ms: I64,
    tick: tuple[int, int] | None,
) -> tuple[BatchWatermarks, I64]:
    """W for every valid record (seq order) and the tick; returns the steps and W per record."""
    running = np.maximum.accumulate(np.concatenate([[previous.max_event_ms], event_ms]))
    w = np.maximum(running - lateness_ms, previous.max_tick_ms)
    max_event = int(running[-1])
    max_tick = previous.max_tick_ms
    step_seqs = np.concatenate([[-1], seqs])
    if tick is not None:
        max_tick = max(max_tick, tick[1])
        w = np.append(w, max(max_event - lateness_ms, max_tick))
        step_seqs = np.append(step_seqs, tick[0])
    steps = BatchWatermarks(
        seqs=step_seqs.astype(np.int64),
        w=w.astype(np.int64),
        state=WatermarkState(max_event_ms=max_event, max_tick_ms=max_tick),
    )
    return steps, w[1 : 1 + len(seqs)].astype(np.int64)
