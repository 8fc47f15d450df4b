"""Altair charts: pure functions from rows to charts, all in UTC, labelled as UTC.

A window that is not final yet is drawn as a hollow, dashed point (complete ones are filled), so
nobody reads a half-filled window as a drop.
"""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if "window_start" in frame:
        frame["window_start"] = pd.to_datetime(frame["window_start"], utc=True)
    return frame


def windows_over_time(
    rows: list[dict[str, Any]], value: str, value_title: str, key_title: str
) -> alt.LayerChart:
    """One line per key over window start, with points hollow where the window is open."""
    frame = _frame(rows)
    # A utc scale makes Vega-Lite place and label times in UTC, not the browser's zone.
    x = alt.X(
        "window_start:T",
        title="window start (UTC)",
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(format="%H:%M:%S", labelAngle=0),
    )
    y = alt.Y(f"{value}:Q", title=value_title)
    color = alt.Color("key:N", title=key_title)
    tooltip = [
        alt.Tooltip("window_start:T", title="window start (UTC)", format="%Y-%m-%d %H:%M"),
        alt.Tooltip("key:N", title=key_title),
        alt.Tooltip(f"{value}:Q", title=value_title, format=",.1f"),
        alt.Tooltip("is_final:N", title="final"),
    ]
    base = alt.Chart(frame).encode(x=x, y=y, color=color, tooltip=tooltip)
    lines = base.mark_line(strokeWidth=1.5)
    complete = base.transform_filter("datum.is_final").mark_point(size=45, filled=True)
    in_progress = base.transform_filter("!datum.is_final").mark_point(
        size=70, filled=False, strokeDash=[2, 2], opacity=0.6
    )
    chart: alt.LayerChart = (lines + complete + in_progress).properties(height=260)
    return chart


def histogram(rows: list[dict[str, Any]], column: str, title: str, bins: int = 30) -> alt.Chart:
    """Bars of `sessions` over `column`: rows the store already counted, binned further."""
    frame = pd.DataFrame(rows)
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X(f"{column}:Q", bin=alt.Bin(maxbins=bins), title=title),
            y=alt.Y("sum(sessions):Q", title="sessions"),
            tooltip=[alt.Tooltip("sum(sessions):Q", title="sessions")],
        )
        .properties(height=220)
    )
    return chart
