"""The watermark: W(seq) = max(max event time so far - lateness, max tick so far).

Computed per seq over the whole micro-batch with one running max, so a batch gives exactly
the watermarks that record-at-a-time processing would.

    arrivals:  seq 0 (t=100)  seq 1 (t=40)  seq 2 (t=130)    lateness L = 30
    W:              70            70             100
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pageviews.engine.state import NO_WATERMARK_MS


@dataclass(frozen=True)
class WatermarkState:
    max_event_ms: int = NO_WATERMARK_MS
    max_tick_ms: int = NO_WATERMARK_MS

    def watermark_ms(self, lateness_ms: int) -> int:
        return max(self.max_event_ms - lateness_ms, self.max_tick_ms)


def compute_batch_watermarks(
    con: duckdb.DuckDBPyConnection,
    previous: WatermarkState,
    lateness_ms: int,
    tick: tuple[int, int] | None,
) -> WatermarkState:
    """Fill temp table batch_wm(seq, w) for every valid record and tick; return the new state."""
    tick_seq, tick_ms = tick if tick is not None else (None, None)
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_wm AS
        WITH arrivals AS (
            SELECT seq, event_time_ms AS event_ms, $none AS tick_ms
            FROM batch_parsed WHERE reason IS NULL
            UNION ALL
            SELECT $tick_seq, $none, $tick_ms WHERE $tick_seq IS NOT NULL
            UNION ALL
            -- Carry the state of earlier batches in as a row before this batch.
            SELECT -1, $max_event, $max_tick
        ), running AS (
            SELECT seq,
                max(event_ms) OVER w AS max_event_ms,
                max(tick_ms) OVER w AS max_tick_ms
            FROM arrivals
            WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)
        )
        SELECT seq, greatest(max_event_ms - $lateness, max_tick_ms) AS w,
            max_event_ms, max_tick_ms
        FROM running
        """,
        {
            "none": NO_WATERMARK_MS,
            "tick_seq": tick_seq,
            "tick_ms": tick_ms,
            "max_event": previous.max_event_ms,
            "max_tick": previous.max_tick_ms,
            "lateness": lateness_ms,
        },
    )
    row = con.execute("SELECT max(max_event_ms), max(max_tick_ms) FROM batch_wm").fetchone()
    assert row is not None
    return WatermarkState(max_event_ms=int(row[0]), max_tick_ms=int(row[1]))
