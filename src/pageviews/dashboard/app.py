"""The pageviews dashboard (Streamlit). Run it with `pageviews dashboard`.

The data refreshes inside an st.fragment on a timer (no `while True` loop); everything it
shows comes from pure query functions over a Store.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

from pageviews.dashboard import charts, queries
from pageviews.errors import NoDataYet, StoreError
from pageviews.store.base import Store
from pageviews.store.clients import open_store
from pageviews.timefmt import format_ms

DEFAULT_REFRESH_S = 15


def _options() -> argparse.Namespace:
    """Options after `--` on the streamlit command line, or the environment."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("PAGEVIEWS_DATA_DIR", "data"))
    )
    parser.add_argument(
        "--refresh", type=int, default=int(os.environ.get("PAGEVIEWS_REFRESH_S", DEFAULT_REFRESH_S))
    )
    args, _ = parser.parse_known_args(sys.argv[1:])
    return args


def _utc(moment: datetime | None) -> str:
    return "none yet" if moment is None else format_ms(int(moment.timestamp() * 1000))


def _clock(moment: datetime | None) -> str:
    return "none yet" if moment is None else f"{moment.astimezone(UTC):%H:%M:%S}"


def _kpi_tiles(tiles: list[queries.Kpi]) -> None:
    columns = st.columns(4)
    for column, tile in zip(columns, tiles, strict=False):
        value = f"{tile.value:,}" if isinstance(tile.value, int) else (tile.value or "none")
        column.metric(tile.label, value, delta=tile.delta, help=tile.help)


def _health(data: queries.Refresh) -> None:
    st.subheader("Health")
    status, counts = data.status, data.health
    freshness = status.freshness_s(datetime.now(UTC))
    columns = st.columns(4)
    columns[0].metric(
        "Freshness",
        "n/a" if freshness is None else f"{freshness:,.1f} s",
        help="wall clock minus the newest event time applied",
    )
    columns[1].metric(
        "Watermark (UTC)",
        "+inf" if status.input_ended else _clock(status.watermark_at),
        help="input ended: every window is final"
        if status.input_ended
        else f"{_utc(status.watermark_at)}; windows ending at or before it are final",
    )
    columns[2].metric("Late events", f"{counts['late_events']:,}")
    columns[3].metric("Dead letters", f"{counts['dead_letters']:,}")
    if data.dead_letters:
        st.caption("Latest dead letters")
        st.dataframe(data.dead_letters, hide_index=True, width="stretch")


def _charts(data: queries.Refresh) -> None:
    st.subheader("By country")
    country = data.windows["pageview_country"]
    left, right = st.columns(2)
    left.altair_chart(
        charts.windows_over_time(country, "pageview_count", "page views", "country"),
        width="stretch",
    )
    right.altair_chart(
        charts.windows_over_time(
            [r for r in country if r["average_age"] is not None],
            "average_age",
            "average age",
            "country",
        ),
        width="stretch",
    )
    st.subheader("By source")
    for column, (table, title) in zip(
        st.columns(3),
        (
            ("pageview_tumbling", "Tumbling windows"),
            ("pageview_hopping", "Hopping windows"),
            ("pageview_session", "Session windows"),
        ),
        strict=True,
    ):
        column.caption(title)
        column.altair_chart(
            charts.windows_over_time(data.windows[table], "pageview_count", "page views", "source"),
            width="stretch",
        )
    st.subheader("Logins by device")
    st.altair_chart(
        charts.windows_over_time(
            data.windows["sessions_by_device"], "login_count", "logins", "device"
        ),
        width="stretch",
    )
    st.subheader("Per-user sessions")
    sessions = data.sessions
    if sessions.lengths:
        left, right = st.columns(2)
        left.altair_chart(
            charts.histogram(sessions.lengths, "minutes", "session length (whole minutes)"),
            width="stretch",
        )
        right.altair_chart(
            charts.histogram(sessions.pageviews, "pageview_count", "page views per session"),
            width="stretch",
        )
    else:
        st.info("No complete user session in this time range yet.")


def render(store: Store, hours: float) -> None:
    """Everything below the sidebar; re-run by the refresh fragment."""
    try:
        try:
            data = queries.refresh(store, hours)
        except NoDataYet:
            data = None
        if data is None:
            st.info(
                "No data yet. Start the pipeline with `pageviews run`; "
                "this page fills in once the first page views are processed."
            )
            return
        _kpi_tiles(data.kpis)
        _charts(data)
        _health(data)
        st.caption(
            f"Source: {store.description}. Updated {datetime.now(UTC):%H:%M:%S} UTC; "
            f"{data.status.records_received:,} records received."
        )
    except StoreError as error:
        st.warning(f"Cannot read the results right now: {error}")


def main() -> None:
    options = _options()
    st.set_page_config(page_title="pageviews", layout="wide")
    st.title("Page views, live")
    with st.sidebar:
        auto = st.toggle("Auto-refresh", value=True)
        interval = st.number_input(
            "Refresh every (s)", min_value=2, max_value=3600, value=options.refresh, step=1
        )
        hours = st.slider("Event time shown (hours)", 0.5, 24.0, 2.0, 0.5)
        st.caption(f"Data dir: `{options.data_dir}`")

    @st.fragment(run_every=int(interval) if auto else None)
    def live() -> None:
        # Looked up on every refresh: the pipeline may have started or stopped meanwhile.
        render(open_store(options.data_dir), hours)

    live()


main()
