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


def assign_fixed_windows(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> None:
    """Fill batch_fixed(view, key, ws, we, user_id, seq, late) from batch_pv."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_fixed AS
        WITH windows AS (
            SELECT 'pageview_tumbling' AS view, source AS key, t - t % $tumbling AS ws,
                $tumbling AS size, user_id, seq, w_at
            FROM batch_pv
            UNION ALL
            SELECT 'pageview_hopping', source, t - t % $step - hop * $step, $hop_size,
                user_id, seq, w_at
            FROM batch_pv, range(0, $hops) AS hops(hop)
        )
        SELECT view, key, ws, ws + size AS we, user_id, seq, ws + size <= w_at AS late
        FROM windows
        """,
        {
            "tumbling": config.tumbling_ms,
            "step": config.hopping_step_ms,
            "hop_size": config.hopping_size_ms,
            "hops": config.hops_per_event,
        },
    )
    record_late_events(con, "batch_fixed")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_contrib AS
        SELECT view, key, ws, we, user_id, NULL::INTEGER AS age FROM batch_fixed WHERE NOT late
        """
    )
    add_contributions(con)


def record_late_events(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Copy rows marked late from a batch table (view, ws, seq, late) into late_events."""
    con.execute(
        f"""
        INSERT INTO late_events
        SELECT l.view, make_timestamptz(l.ws * 1000), bl.line, l.seq
        FROM {table} l JOIN batch_lines bl USING (seq)
        WHERE l.late
        """  # noqa: S608 - table is one of our own temp table names
    )


def add_contributions(con: duckdb.DuckDBPyConnection) -> None:
    """Add batch_contrib(view, key, ws, we, user_id, age) to the open windows' state."""
    con.execute(
        """
        INSERT INTO state_window_users
        SELECT DISTINCT view, key, ws, user_id FROM batch_contrib
        EXCEPT
        SELECT view, key, ws, user_id FROM state_window_users
        """
    )
    con.execute(
        """
        MERGE INTO state_windows s
        USING (
            SELECT view, key, ws, we, count(*) AS pv_count,
                coalesce(sum(age), 0) AS age_sum, count(age) AS age_n
            FROM batch_contrib GROUP BY view, key, ws, we
        ) d
        ON s.view = d.view AND s.key = d.key AND s.ws = d.ws
        WHEN MATCHED THEN UPDATE SET
            pv_count = s.pv_count + d.pv_count,
            age_sum = s.age_sum + d.age_sum,
            age_n = s.age_n + d.age_n
        WHEN NOT MATCHED THEN
            INSERT VALUES (d.view, d.key, d.ws, d.we, d.pv_count, d.age_sum, d.age_n)
        """
    )
