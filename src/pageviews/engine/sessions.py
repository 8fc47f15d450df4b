"""Session windows by source and per user: merge each batch's events into open sessions.

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

from pageviews.config import WindowConfig
from pageviews.engine import views
from pageviews.engine.batch_rows import LateRows, PageViews
from pageviews.engine.open_windows import OpenWindows
from pageviews.engine.packing import I64, Packer, run_starts


def apply_sessions(
    pv: PageViews, config: WindowConfig, windows: dict[str, OpenWindows], late: LateRows
) -> None:
    missed = pv.t <= pv.w_at
    for view in (views.SESSION, views.USER_SESSION):
        late.add(view, pv.t[missed], pv.seq[missed])
    on_time = pv.where(~missed)
    _merge(windows[views.SESSION], on_time.source, on_time.t, on_time.user, config.session_gap_ms)
    # Per-user sessions need no distinct user count: their key is the user.
    _merge(windows[views.USER_SESSION], on_time.user, on_time.t, None, config.user_session_gap_ms)


def _merge(windows: OpenWindows, key: I64, t: I64, users: I64 | None, gap: int) -> None:
    if not len(key):
        return
    # The open sessions of the batch's keys take part; the others stay as they are.
    involved = np.isin(windows.key, key)
    old = np.flatnonzero(involved)
    item_key = np.concatenate([key, windows.key[old]])
    item_start = np.concatenate([t, windows.ws[old]])
    item_end = np.concatenate([t, windows.we[old] - gap])
    item_count = np.concatenate([np.ones(len(key), np.int64), windows.pv_count[old]])
    packer = Packer([[item_key], [item_start], [item_end]])
    order = np.argsort(packer.pack(item_key, item_start, item_end))
    k, s, e = item_key[order], item_start[order], item_end[order]
    first_of_key = run_starts(k)
    # Furthest end so far within the key: packing (key, end) makes one running max do it.
    key_end = Packer([[k], [e]])
    furthest = key_end.unpack(np.maximum.accumulate(key_end.pack(k, e)))[1]
    new_session = first_of_key.copy()
    new_session[1:] |= s[1:] - furthest[:-1] > gap
    starts = np.flatnonzero(new_session)
    group = np.cumsum(new_session) - 1
    new_ws = s[starts]
    new_we = np.maximum.reduceat(e, starts) + gap
    windows.keep(~involved)
    windows.append(k[starts], new_ws, new_we, np.add.reduceat(item_count[order], starts))
    if users is None:
        return
    # Where each item went: items 0..len(key)-1 are the events, the rest old sessions.
    item_ws = np.empty(len(order), np.int64)
    item_ws[order] = new_ws[group]
    old_ws = item_start[len(key) :]
    moved = item_ws[len(key) :] != old_ws
    windows.move_users(item_key[len(key) :][moved], old_ws[moved], item_ws[len(key) :][moved])
    windows.add_users(key, item_ws[: len(key)], users)
