"""Publish window state into the result tables: one current row per (key, window_start).

Every batch rewrites the open (not final) rows of each view from state, then drops windows that
the watermark has closed from state: a final row never changes again, and closed windows leave
memory.
"""

from __future__ import annotations

import duckdb

from pageviews.engine import views

# Columns of each result table, as SQL over state_windows sw and user counts uc.
_TS = "make_timestamptz(sw.ws * 1000), make_timestamptz(sw.we * 1000)"
_SELECTS = {
    views.TUMBLING: f"{_TS}, sw.key, sw.pv_count, uc.users",
    views.HOPPING: f"{_TS}, sw.key, sw.pv_count, uc.users",
    views.SESSION: f"{_TS}, sw.key, sw.pv_count, uc.users",
    views.USER_SESSION: f"CAST(sw.key AS BIGINT), {_TS}, sw.pv_count",
    views.COUNTRY: (
        f"{_TS}, sw.key, sw.pv_count, uc.users, "
        "CASE WHEN sw.age_n > 0 THEN sw.age_sum / sw.age_n END"
    ),
}


def publish(con: duckdb.DuckDBPyConnection, watermark_ms: int) -> None:
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_user_counts AS
        SELECT view, key, ws, count(DISTINCT user_id) AS users
        FROM state_window_users GROUP BY view, key, ws
        """
    )
    for view, columns in _SELECTS.items():
        table = views.TABLES[view]
        con.execute(f"DELETE FROM {table} WHERE NOT is_final")  # noqa: S608 - our table names
        con.execute(
            f"""
            INSERT INTO {table}
            SELECT {columns}, sw.we <= $watermark
            FROM state_windows sw
            LEFT JOIN batch_user_counts uc USING (view, key, ws)
            WHERE sw.view = $view
            """,  # noqa: S608 - our table and column names only
            {"view": view, "watermark": watermark_ms},
        )
    con.execute(
        """
        DELETE FROM state_window_users u USING state_windows sw
        WHERE sw.we <= $watermark AND u.view = sw.view AND u.key = sw.key AND u.ws = sw.ws
        """,
        {"watermark": watermark_ms},
    )
    con.execute("DELETE FROM state_windows WHERE we <= $watermark", {"watermark": watermark_ms})
