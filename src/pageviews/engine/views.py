"""The catalogue's window views, kept up to date from one micro-batch's records.

Each window table of the result catalogue says which records it counts, keyed by which field,
in which windows. This module hands each view its records, keyed, to the step that keeps that
kind of view: fixed windows (fixed_windows.py), sessions (sessions.py), or the country join
(country_join.py: page views wait for the watermark, and are joined later in the batch).
"""

from __future__ import annotations

import pyarrow as pa

from pageviews.config import WindowConfig
from pageviews.engine.batch_rows import Events, LateRows, ints
from pageviews.engine.country_join import admit_country_views
from pageviews.engine.fixed_windows import assign_fixed_windows
from pageviews.engine.packing import I64
from pageviews.engine.parse import ParsedBatch
from pageviews.engine.sessions import apply_sessions
from pageviews.engine.state_store import EngineState
from pageviews.model.records import RECORD_TYPES, Kind, RecordType
from pageviews.model.results import WINDOW_TABLES
from pageviews.model.windows import Hopping, Session


class BatchRecords:
    """The batch's valid records of one type, in seq order; keys are made per view."""

    def __init__(
        self,
        parsed: ParsedBatch,
        order: I64,
        w_at: I64,
        record_type: RecordType,
        state: EngineState,
    ) -> None:
        is_type = parsed.record_type[order] == RECORD_TYPES.index(record_type)
        key_fields = {
            table.windowing.key_field
            for table in WINDOW_TABLES
            if table.windowing is not None
            and table.windowing.records is record_type
            and not table.windowing.joined_to_users
        }
        columns = ["seq", "user_id", "event_time_ms", *sorted(key_fields - {"user_id"})]
        self.rows = parsed.valid.select(columns).take(pa.array(order[is_type]))
        self.record_type = record_type
        self.state = state
        self.seq = ints(self.rows["seq"])
        self.user = ints(self.rows["user_id"])
        self.t = ints(self.rows["event_time_ms"])
        self.w_at = w_at[is_type]
        self._keys: dict[str, I64] = {"user_id": self.user}

    def events(self, key_field: str) -> Events:
        key = self._keys.get(key_field)
        if key is None:
            field = next(f for f in self.record_type.fields if f.name == key_field)
            column = self.rows[key_field]
            key = self.state.codes.encode(column) if field.kind is Kind.STRING else ints(column)
            self._keys[key_field] = key
        return Events(self.seq, self.user, key, self.t, self.w_at)


def update_window_views(
    parsed: ParsedBatch,
    order: I64,
    w_at: I64,
    state: EngineState,
    config: WindowConfig,
    late: LateRows,
) -> None:
    """Late records out, the rest counted into every window view; `order` puts parsed.valid in
    seq order, as w_at is. Country views only wait here (see release_and_join)."""
    records: dict[str, BatchRecords] = {}
    for table in WINDOW_TABLES:
        windowing = table.windowing
        assert windowing is not None and table.code is not None
        record_type = windowing.records
        if record_type.name not in records:
            records[record_type.name] = BatchRecords(parsed, order, w_at, record_type, state)
        batch = records[record_type.name]
        windower = windowing.windower(config)
        windows = state.windows[table.code]
        if windowing.joined_to_users:
            assert isinstance(windower, Hopping)
            admit_country_views(batch.events("user_id"), windower, table, state.pending, late)
        elif isinstance(windower, Session):
            apply_sessions(batch.events(windowing.key_field), windower, table, windows, late)
        else:
            assign_fixed_windows(batch.events(windowing.key_field), windower, table, windows, late)
