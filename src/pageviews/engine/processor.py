"""One micro-batch, end to end, in one transaction.

Order within a batch (the same order record-at-a-time processing implies):
  1. validate lines (engine/parse.py); store accepted records and dead letters
  2. watermark per seq
  3. every window view of the catalogue (engine/views.py): late rows out; fixed windows
     counted; sessions merged; country views wait
  4. waiting country views whose time W has reached are joined and counted
  5. user versions kept and cleaned_users refreshed; open windows published; closed windows
     finalised and dropped
  6. input position and watermark state saved, all committed at once

A batch that fails because of what is in it is rolled back and run again in parts, so that
the lines that fail alone become dead letters and the rest is committed (engine/isolation.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import duckdb
import pyarrow as pa

from pageviews.config import WindowConfig
from pageviews.engine.batch_rows import LateRows, ints
from pageviews.engine.country_join import Versions, release_and_join
from pageviews.engine.isolation import caused_by_input, isolate
from pageviews.engine.parse import ParsedBatch, parse_batch, type_codes
from pageviews.engine.publish import publish
from pageviews.engine.state import STATE_DDL
from pageviews.engine.state_store import load_state, save_state
from pageviews.engine.user_versions import absorb_batch_versions, stage_batch_versions
from pageviews.engine.views import update_window_views
from pageviews.engine.watermark import BatchWatermarks, WatermarkState, compute_batch_watermarks
from pageviews.model.records import MAX_LINE_BYTES
from pageviews.model.results import PAGEVIEW_COUNTRY
from pageviews.model.windows import Hopping
from pageviews.store.duckdb_store import Meta
from pageviews.store.schema import RAW_COLUMNS, RAW_TABLE_TYPES
from pageviews.validation.precise import define_macros
from pageviews.validation.scan import warm_up_scan


@dataclass
class Batch:
    """Input lines in arrival order, with an optional watermark tick after them."""

    lines: pa.StringArray
    received_ms: int
    # A reason decided before parsing (for example, bytes that are not UTF-8), per line.
    pre_reasons: pa.StringArray | None = None
    tick_ms: int | None = None
    # Where the input stands after this batch, saved atomically with its results.
    position: dict[str, object] = field(default_factory=dict)
    # Where the input stands after the batch's first k lines (k < len(lines)): saved with each
    # part of a batch that is committed in parts (engine/isolation.py). Without it, a batch
    # that fails is not split, and its failure stops the run.
    position_after: Callable[[int], dict[str, object]] | None = None


@dataclass(frozen=True)
class BatchResult:
    accepted: int
    dead: int
    watermark_ms: int
    seconds: float
    failed: int = 0  # dead letters (counted in `dead`) set aside because processing failed


class Engine:
    def __init__(self, con: duckdb.DuckDBPyConnection, config: WindowConfig) -> None:
        self.con = con
        self.config = config
        for ddl in STATE_DDL:
            con.execute(ddl)
        define_macros(con)
        # Load the compiled scan now (about half a second), not while the first batch waits.
        warm_up_scan()
        self.meta = Meta(con)
        self.next_seq: int = self.meta.get("next_seq", 0)
        self.watermarks = WatermarkState(
            self.meta.get("max_event_ms", WatermarkState().max_event_ms),
            self.meta.get("max_tick_ms", WatermarkState().max_tick_ms),
        )
        self.state = load_state(con)

    @property
    def watermark_ms(self) -> int:
        return self.watermarks.watermark_ms(self.config.lateness_ms)

    def process(self, batch: Batch) -> BatchResult:
        """Process and commit the batch; a batch that fails because of its lines is committed
        in parts, with the lines that fail alone set aside as dead letters."""
        started = time.perf_counter()
        count = len(batch.lines)
        try:
            result = self._commit_part(batch, 0, count, None)
        except Exception as error:
            if batch.position_after is None or not count or not caused_by_input(error):
                raise
            parts = isolate(
                count,
                error,
                lambda start, stop, reason: self._commit_part(batch, start, stop, reason),
            )
            result = BatchResult(
                accepted=sum(part.accepted for part in parts),
                dead=sum(part.dead for part in parts),
                watermark_ms=parts[-1].watermark_ms,
                seconds=0.0,
                failed=sum(part.failed for part in parts),
            )
        return replace(result, seconds=time.perf_counter() - started)

    def _commit_part(
        self, batch: Batch, start: int, stop: int, set_aside: str | None
    ) -> BatchResult:
        """Lines [start, stop) of the batch in one transaction, committed with the input
        position after them (and the batch's tick, with its last line). `set_aside`: the part
        is one line, stored only as a dead letter with this reason."""
        con = self.con
        first_seq = self.next_seq
        whole = start == 0 and stop == len(batch.lines)
        last = stop == len(batch.lines)
        lines = batch.lines if whole else batch.lines[start:stop]
        pre_reasons = batch.pre_reasons
        if set_aside is not None:
            pre_reasons = pa.array([set_aside] * (stop - start), pa.string())
        elif pre_reasons is not None and not whole:
            pre_reasons = pre_reasons[start:stop]
        if last:
            position = batch.position
        else:
            assert batch.position_after is not None
            position = batch.position_after(stop)
        tick_ms = batch.tick_ms if last else None
        tick = None if tick_ms is None else (first_seq + len(lines), tick_ms)
        con.execute("BEGIN TRANSACTION")
        try:
            parsed = parse_batch(con, lines, pre_reasons, first_seq, batch.received_ms, macro=True)
            # DuckDB reads the valid rows straight from Arrow, by type, until the batch ends.
            con.register("batch_valid", parsed.with_type_codes())
            self._store_records(parsed, batch.received_ms, tick)
            order = parsed.seq_order()
            steps, w_at = compute_batch_watermarks(
                self.watermarks,
                self.config.lateness_ms,
                ints(parsed.valid["seq"])[order],
                ints(parsed.valid["event_time_ms"])[order],
                tick,
            )
            stage_batch_versions(con, f"batch_valid WHERE type_code IN ({type_codes('user')})")
            late = LateRows()
            update_window_views(parsed, order, w_at, self.state, self.config, late)
            self._join_released_country_views(steps)
            watermark_ms = steps.state.watermark_ms(self.config.lateness_ms)
            absorb_batch_versions(con, cut_ms=watermark_ms - self.config.country_ms)
            self._insert_late_rows(late, lines, first_seq)
            publish(con, self.state, watermark_ms)
            save_state(con, self.state, first_seq, watermark_ms)
            next_seq = first_seq + len(lines) + (tick is not None)
            self.meta.set_many(
                {
                    "next_seq": next_seq,
                    "max_event_ms": steps.state.max_event_ms,
                    "max_tick_ms": steps.state.max_tick_ms,
                    **position,
                }
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            # The in-memory state may hold part of the batch: go back to the last commit.
            self.state = load_state(con)
            raise
        finally:
            con.unregister("batch_valid")
        self.next_seq = next_seq
        self.watermarks = steps.state
        return BatchResult(
            accepted=parsed.valid.num_rows,
            dead=parsed.dead,
            watermark_ms=watermark_ms,
            seconds=0.0,
            failed=0 if set_aside is None else stop - start,
        )

    def _store_records(
        self, parsed: ParsedBatch, received_ms: int, tick: tuple[int, int] | None
    ) -> None:
        con = self.con
        if parsed.dead:
            con.execute(
                """
                INSERT INTO dead_letters
                SELECT left(l.line, $max_bytes), p.reason, make_timestamptz($received * 1000), seq
                FROM batch_precise p JOIN batch_pending_lines l USING (seq)
                WHERE p.reason IS NOT NULL
                """,
                {"received": received_ms, "max_bytes": MAX_LINE_BYTES},
            )
        for table, record_type in RAW_TABLE_TYPES.items():
            column_list = ", ".join(RAW_COLUMNS[table])
            codes = type_codes(record_type)
            # Only names and codes from the record model are rendered.
            insert = f"INSERT INTO {table} ({column_list}) SELECT {column_list} FROM batch_valid"  # noqa: S608
            con.execute(f"{insert} WHERE type_code IN ({codes})")
        if tick is not None:
            con.execute("INSERT INTO raw_ticks VALUES (?, ?)", list(tick))

    def _join_released_country_views(self, steps: BatchWatermarks) -> None:
        """Page views whose time W has reached in this batch, joined to their users."""
        state = self.state
        columns = "user_id, updated_ms, seq, op, age, country"
        old_versions, batch_versions = (
            Versions.from_arrow(
                self.con.sql(f"SELECT {columns} FROM {table}").to_arrow_table(),  # noqa: S608
                state.codes,
            )
            for table in ("state_user_versions", "batch_user_versions")
        )
        windowing = PAGEVIEW_COUNTRY.windowing
        assert windowing is not None and PAGEVIEW_COUNTRY.code is not None
        windower = windowing.windower(self.config)
        assert isinstance(windower, Hopping)
        release_and_join(
            state.pending,
            steps,
            old_versions,
            batch_versions,
            windower,
            state.windows[PAGEVIEW_COUNTRY.code],
            state.codes,
        )

    def _insert_late_rows(self, late: LateRows, lines: pa.Array, first_seq: int) -> None:
        if not late.parts:
            return
        self.con.register("late_arrow", late.table(lines, first_seq))
        self.con.execute(
            "INSERT INTO late_events "
            "SELECT view, make_timestamptz(ws * 1000), raw, seq FROM late_arrow"
        )
        self.con.unregister("late_arrow")
