"""Tumbling and hopping windows by source: lateness, then contributions to open windows.

Lateness is decided at the page view's arrival, per window: a window with end <= W(arrival)
is missed and gets a late_events row; the other windows of the same view count the view.

    W(arrival) = 340, hopping size 300 step 60, t = 350:
    [60, 360)  end 360 > 340  counted        [ 0, 300)  not a window of t=350
    [120,420)  counted ... [300, 600) counted
"""

from __future__ import annotations

import duckdb

from pageviews.config import WindowConfig
from pageviews.engine import views


def assign_fixed_windows(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> None:
    """Tumbling and hopping windows of the batch's page views: late rows out, the rest counted."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_fixed AS
        WITH windows AS (
            SELECT $tumbling_view AS view, source AS key, t - t % $tumbling AS ws,
                $tumbling AS size, user_id, seq, w_at
            FROM batch_pv
            UNION ALL
            SELECT $hopping_view, source, t - t % $step - hop * $step, $hop_size,
                user_id, seq, w_at
            FROM batch_pv, range(0, $hops) AS hops(hop)
        )
        SELECT view, key, ws, ws + size AS we, user_id, NULL::INTEGER AS age, seq,
            ws + size <= w_at AS late
        FROM windows
        """,
        {
            "tumbling_view": views.TUMBLING,
            "hopping_view": views.HOPPING,
            "tumbling": config.tumbling_ms,
            "step": config.hopping_step_ms,
            "hop_size": config.hopping_size_ms,
            "hops": config.hops_per_event,
        },
    )
    record_late_events(con, "batch_fixed")
    # Late rows are few: dropping them is cheaper than copying every other row.
    con.execute("DELETE FROM batch_fixed WHERE late")
    add_contributions(con, "batch_fixed")


def record_late_events(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Copy rows marked late from a batch table (view, ws, seq, late) into late_events."""
    con.execute(
        f"""
        INSERT INTO late_events
        SELECT {views.table_name_sql("l.view")}, make_timestamptz(l.ws * 1000), bl.line, l.seq
        FROM {table} l JOIN batch_lines bl USING (seq)
        WHERE l.late
        """  # noqa: S608 - table is one of our own temp table names
    )


def add_contributions(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Add a batch table's rows (view, key, ws, we, user_id, age) to the open windows' state."""
    con.execute(
        f"""
        INSERT INTO state_window_users
        SELECT DISTINCT view, key, ws, user_id FROM {table}
        EXCEPT
        SELECT view, key, ws, user_id FROM state_window_users
        """  # noqa: S608 - table is one of our own temp table names
    )
    con.execute(
        f"""
        MERGE INTO state_windows s
        USING (
            SELECT view, key, ws, we, count(*) AS pv_count,
                coalesce(sum(age), 0) AS age_sum, count(age) AS age_n
            FROM {table} GROUP BY view, key, ws, we
        ) d
        ON s.view = d.view AND s.key = d.key AND s.ws = d.ws
        WHEN MATCHED THEN UPDATE SET
            pv_count = s.pv_count + d.pv_count,
            age_sum = s.age_sum + d.age_sum,
            age_n = s.age_n + d.age_n
        WHEN NOT MATCHED THEN
            INSERT VALUES (d.view, d.key, d.ws, d.we, d.pv_count, d.age_sum, d.age_n)
        """  # noqa: S608 - table is one of our own temp table names
    )
