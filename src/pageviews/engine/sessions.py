"""Session windows of one view (by source, per user): merge a batch's events into open sessions.

A session is [first event, last event + gap). Two events of a key share a session when a chain
of gaps, each <= gap, connects them. Open sessions are kept as windows (ws = first event,
we = last + gap) and merged with the batch's events as intervals:

    open session  [10 ......... 40]+gap        gap = 30
    new events                        75   150
    merged        [10 ............... 75]+gap  (75 - 40 <= 30)   [150]+gap  (150 - 75 > 30)

Per key, intervals sorted by start form one session while each start is within gap of the
furthest end so far. A page view at t is late for sessions when t <= W(arrival): it could only
have joined a session that may already be final.
"""

from __future__ import annotations

import numpy as np

from pageviews.engine.batch_rows import Events, LateRows
from pageviews.engine.open_windows import OpenWindows
from pageviews.engine.packing import I64
from pageviews.model.results import ResultTable
from pageviews.model.windows import Session


def apply_sessions(
    events: Events, windower: Session, table: ResultTable, windows: OpenWindows, late: LateRows
) -> None:
    """Late records out; the others merged into the open sessions of their keys."""
    missed = windower.missed(events.t, events.w_at)
    late.add(table, events.t[missed], events.seq[missed])
    on_time = events.where(~missed)
    # A view keyed by user needs no distinct user count.
    users = on_time.user if table.counts_users else None
    _merge(windows, on_time.key, on_time.t, users, windower)


def _merge(windows: OpenWindows, key: I64, t: I64, users: I64 | None, windower: Session) -> None:
    if not len(key):
        return
    gap = windower.gap_ms
    # The open sessions of the batch's keys take part; the others stay as they are.
    involved = np.isin(windows.key, key)
    old = np.flatnonzero(involved)
    item_key = np.concatenate([key, windows.key[old]])
    item_start = np.concatenate([t, windows.ws[old]])
    item_count = np.concatenate([np.ones(len(key), np.int64), windows.pv_count[old]])
    merged = windower.merge(item_key, item_start, np.concatenate([t, windows.we[old] - gap]))
    windows.keep(~involved)
    counts = np.add.reduceat(item_count[merged.order], merged.first_item)
    windows.append(merged.key, merged.start_ms, merged.end_ms, counts)
    if users is None:
        return
    # Where each item went: items 0..len(key)-1 are the events, the rest old sessions.
    item_ws = np.empty(len(merged.order), np.int64)
    item_ws[merged.order] = merged.start_ms[merged.session_of]
    old_ws = item_start[len(key) :]
    moved = item_ws[len(key) :] != old_ws
    windows.move_users(item_key[len(key) :][moved], old_ws[moved], item_ws[len(key) :][moved])
    windows.add_users(key, item_ws[: len(key)], users)
