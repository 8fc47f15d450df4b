"""Tumbling and hopping windows by source: lateness, then contributions to open windows.

Lateness is decided at the page view's arrival, per window: a window with end <= W(arrival)
is missed and gets a late_events row; the other windows of the same view count the view.

    W(arrival) = 340, hopping size 300 step 60, t = 350:
    [60, 360)  end 360 > 340  counted        [ 0, 300)  not a window of t=350
    [120,420)  counted ... [300, 600) counted
"""

from __future__ import annotations

import numpy as np

from pageviews.config import WindowConfig
from pageviews.engine import views
from pageviews.engine.batch_rows import LateRows, PageViews
from pageviews.engine.open_windows import OpenWindows


def assign_fixed_windows(
    pv: PageViews, config: WindowConfig, windows: dict[str, OpenWindows], late: LateRows
) -> None:
    """Tumbling and hopping windows of the batch's page views: late rows out, the rest counted."""
    size = config.tumbling_ms
    ws = pv.t - pv.t % size
    _count(pv, views.TUMBLING, ws, size, windows[views.TUMBLING], late)
    hops = config.hops_per_event
    step = config.hopping_step_ms
    latest = pv.t - pv.t % step
    # Row-major: the hops windows of page view i are rows i * hops ... i * hops + hops - 1.
    starts = (latest[:, None] - np.arange(hops, dtype=np.int64) * step).ravel()
    repeated = PageViews(
        *(np.repeat(column, hops) for column in (pv.seq, pv.user, pv.source, pv.t, pv.w_at))
    )
    _count(repeated, views.HOPPING, starts, config.hopping_size_ms, windows[views.HOPPING], late)


def _count(
    pv: PageViews, view: str, ws: np.ndarray, size: int, windows: OpenWindows, late: LateRows
) -> None:
    missed = ws + size <= pv.w_at
    if missed.any():
        late.add(view, ws[missed], pv.seq[missed])
        kept = ~missed
        windows.add_views(pv.source[kept], ws[kept], size, pv.user[kept])
    else:
        windows.add_views(pv.source, ws, size, pv.user)
