"""Fixed windows (tumbling and hopping) of one view: lateness, then counts of open windows.

Lateness is decided at the record's arrival, per window: a window with end <= W(arrival) is
missed and gets a late_events row; the other windows of the same view count the record.

    W(arrival) = 340, hopping size 300 step 60, t = 350:
    [60, 360)  end 360 > 340  counted        [ 0, 300)  not a window of t=350
    [120,420)  counted ... [300, 600) counted

Records that miss none of their windows (almost all of them) are first grouped by (key,
latest window start, user): a window's count and distinct users follow from the groups, and a
hopping view's five windows are then five copies of far fewer rows.
"""

from __future__ import annotations

import numpy as np

from pageviews.engine.batch_rows import Events, LateRows
from pageviews.engine.open_windows import OpenWindows
from pageviews.engine.packing import Packer, run_starts
from pageviews.model.results import ResultTable
from pageviews.model.windows import Hopping


def assign_fixed_windows(
    events: Events, windower: Hopping, table: ResultTable, windows: OpenWindows, late: LateRows
) -> None:
    """Count each record into its windows, or record it late for each one W(arrival) closed."""
    back = windower.back_offsets()
    latest = windower.latest_start(events.t)
    # The oldest window ends first: a record that misses none misses no other either.
    misses_some = windower.missed(latest - back[-1], events.w_at)
    if misses_some.any():
        _count_one_by_one(events.where(misses_some), windower, table, windows, late)
        keep = ~misses_some
        events, latest = events.where(keep), latest[keep]
    if not len(latest):
        return
    packer = Packer([[events.key], [latest], [events.user]])
    ordered = np.sort(packer.pack(events.key, latest, events.user))
    starts = np.flatnonzero(run_starts(ordered))
    counts = np.diff(np.append(starts, len(ordered)))
    key, group_latest, user = packer.unpack(ordered[starts])
    hops = len(back)
    windows.add_views(
        np.tile(key, hops),
        (group_latest[None, :] - back[:, None]).ravel(),
        windower.size_ms,
        np.tile(user, hops),
        counts=np.tile(counts, hops),
    )


def _count_one_by_one(
    events: Events, windower: Hopping, table: ResultTable, windows: OpenWindows, late: LateRows
) -> None:
    """One row per (record, window): the few records that miss some of their windows."""
    hops = windower.windows_per_event
    # Row-major: the windows of record i are rows i * hops ... i * hops + hops - 1.
    ws = windower.starts(events.t).ravel()
    seq, user, key, w_at = (
        np.repeat(column, hops) for column in (events.seq, events.user, events.key, events.w_at)
    )
    missed = windower.missed(ws, w_at)
    late.add(table, ws[missed], seq[missed])
    kept = ~missed
    windows.add_views(key[kept], ws[kept], windower.size_ms, user[kept])
