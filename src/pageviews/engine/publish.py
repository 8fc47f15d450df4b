"""Publish window state into the result tables: one current row per (key, window_start).

Every batch rewrites the open (not final) rows of each view from state, then drops windows that
the watermark has closed from state: a final row never changes again, and closed windows leave
memory.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from pageviews.engine import views
from pageviews.engine.state_store import EngineState

# Columns of each result table, as SQL over the rows of one view's open windows (sw).
_TS = "make_timestamptz(sw.ws * 1000), make_timestamptz(sw.we * 1000)"
_SELECTS = {
    views.TUMBLING: f"{_TS}, sw.key, sw.pv_count, sw.users",
    views.HOPPING: f"{_TS}, sw.key, sw.pv_count, sw.users",
    views.SESSION: f"{_TS}, sw.key, sw.pv_count, sw.users",
    views.USER_SESSION: f"sw.user_id, {_TS}, sw.pv_count",
    views.COUNTRY: (
        f"{_TS}, sw.key, sw.pv_count, sw.users, "
        "CASE WHEN sw.age_n > 0 THEN sw.age_sum / sw.age_n END"
    ),
}


def publish(con: duckdb.DuckDBPyConnection, state: EngineState, watermark_ms: int) -> None:
    for view, columns in _SELECTS.items():
        table = views.TABLES[view]
        windows = state.windows[view]
        con.execute(f"DELETE FROM {table} WHERE NOT is_final")  # noqa: S608 - our table names
        if len(windows):
            key = (
                {"user_id": pa.array(windows.key, pa.int64())}
                if view == views.USER_SESSION
                else {"key": state.key_strings(view, windows.key)}
            )
            rows = pa.table(
                {
                    **key,
                    "ws": windows.ws,
                    "we": windows.we,
                    "pv_count": windows.pv_count,
                    "users": windows.user_counts(),
                    "age_sum": windows.age_sum,
                    "age_n": windows.age_n,
                }
            )
            con.register("publish_arrow", rows)
            con.execute(
                f"INSERT INTO {table} SELECT {columns}, sw.we <= $watermark FROM publish_arrow sw",  # noqa: S608
                {"watermark": watermark_ms},
            )
            con.unregister("publish_arrow")
        windows.drop_closed(watermark_ms)
