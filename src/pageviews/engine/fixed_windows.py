"""Tumbling and hopping windows by source: lateness, then contributions to open windows.

Lateness is decided at the page view's arrival, per window: a window with end <= W(arrival)
is missed and gets a late_events row; the other windows of the same view count the view.

    W(arrival) = 340, hopping size 300 step 60, t = 350:
    [60, 360)  end 360 > 340  counted        [ 0, 300)  not a window of t=350
    [120,420)  counted ... [300, 600) counted

Page views that miss none of their windows (almost all of them) are first grouped by (source,
latest window start, user): a window's count and distinct users follow from the groups, and a
hopping view's five windows are then five copies of far fewer rows.
"""

from __future__ import annotations

import numpy as np

from pageviews.config import WindowConfig
from pageviews.engine import views
from pageviews.engine.batch_rows import LateRows, PageViews
from pageviews.engine.open_windows import OpenWindows
from pageviews.engine.packing import I64, Packer, run_starts


def assign_fixed_windows(
    pv: PageViews, config: WindowConfig, windows: dict[str, OpenWindows], late: LateRows
) -> None:
    """Tumbling and hopping windows of the batch's page views: late rows out, the rest counted."""
    size = config.tumbling_ms
    no_hops = np.zeros(1, np.int64)
    _count(pv, views.TUMBLING, pv.t - pv.t % size, no_hops, size, windows[views.TUMBLING], late)
    step = config.hopping_step_ms
    # Window k of a page view starts at latest - back[k]; k = 0 is the latest window.
    back = np.arange(config.hops_per_event, dtype=np.int64) * step
    latest = pv.t - pv.t % step
    _count(pv, views.HOPPING, latest, back, config.hopping_size_ms, windows[views.HOPPING], late)


def _count(
    pv: PageViews,
    view: str,
    latest: I64,
    back: I64,
    size: int,
    windows: OpenWindows,
    late: LateRows,
) -> None:
    """Count each page view into the windows starting at latest - back[k], or record it late
    for each one that W(arrival) has closed."""
    # The oldest window ends first: a page view that misses none misses no other either.
    misses_some = latest - back[-1] + size <= pv.w_at
    if misses_some.any():
        _count_one_by_one(
            pv.where(misses_some), view, latest[misses_some], back, size, windows, late
        )
        keep = ~misses_some
        pv, latest = pv.where(keep), latest[keep]
    if not len(latest):
        return
    packer = Packer([[pv.source], [latest], [pv.user]])
    ordered = np.sort(packer.pack(pv.source, latest, pv.user))
    starts = np.flatnonzero(run_starts(ordered))
    counts = np.diff(np.append(starts, len(ordered)))
    source, group_latest, user = packer.unpack(ordered[starts])
    hops = len(back)
    windows.add_views(
        np.tile(source, hops),
        (group_latest[None, :] - back[:, None]).ravel(),
        size,
        np.tile(user, hops),
        counts=np.tile(counts, hops),
    )


def _count_one_by_one(
    pv: PageViews,
    view: str,
    latest: I64,
    back: I64,
    size: int,
    windows: OpenWindows,
    late: LateRows,
) -> None:
    """One row per (page view, window): the few page views that miss some of their windows."""
    hops = len(back)
    # Row-major: the windows of page view i are rows i * hops ... i * hops + hops - 1.
    ws = (latest[:, None] - back[None, :]).ravel()
    seq, user, source, w_at = (
        np.repeat(column, hops) for column in (pv.seq, pv.user, pv.source, pv.w_at)
    )
    missed = ws + size <= w_at
    late.add(view, ws[missed], seq[missed])
    kept = ~missed
    windows.add_views(source[kept], ws[kept], size, user[kept])
