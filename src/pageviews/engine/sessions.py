"""Session windows by source and per user: merge each batch's events into open sessions.

A session is [first event, last event + gap). Two events of a key share a session when a chain
of gaps, each <= gap, connects them. Open sessions are kept as windows (ws = first event,
we = last + gap) and merged with the batch's events as intervals:

    open session  [10 ......... 40]+gap        gap = 30
    new events                        75   150
    merged        [10 ............... 75]+gap  (75 - 40 <= 30)   [150]+gap  (150 - 75 > 30)

A page view at t is late for sessions when t <= W(arrival): it could only have joined a session
that may already be final.
"""

from __future__ import annotations

import duckdb

from pageviews.config import WindowConfig
from pageviews.engine import views


def apply_sessions(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> None:
    params = {
        "source_view": views.SESSION,
        "user_view": views.USER_SESSION,
        "source_gap": config.session_gap_ms,
        "user_gap": config.user_session_gap_ms,
    }
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_session_events AS
        SELECT $source_view AS view, source AS key, t, user_id, seq, t <= w_at AS late,
            $source_gap AS gap
        FROM batch_pv
        UNION ALL
        SELECT $user_view, CAST(user_id AS VARCHAR), t, user_id, seq, t <= w_at, $user_gap
        FROM batch_pv
        """,
        params,
    )
    con.execute(
        f"""
        INSERT INTO late_events
        SELECT {views.table_name_sql("e.view")}, make_timestamptz(e.t * 1000), bl.line, e.seq
        FROM batch_session_events e JOIN batch_lines bl USING (seq)
        WHERE e.late
        """  # noqa: S608 - constant SQL from our view names
    )
    # First the batch's own events become islands (one sort over the batch's points); then the
    # few islands merge with the open sessions of their keys as intervals.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_session_points AS
        WITH points AS (
            SELECT view, key, t, count(*) AS n, any_value(gap) AS gap
            FROM batch_session_events WHERE NOT late GROUP BY view, key, t
        ), flagged AS (
            SELECT *, coalesce(t - lag(t) OVER (PARTITION BY view, key ORDER BY t) > gap, TRUE)
                AS starts_island
            FROM points
        )
        SELECT *, sum(starts_island::INTEGER) OVER (PARTITION BY view, key ORDER BY t
            ROWS UNBOUNDED PRECEDING) AS island
        FROM flagged
        """
    )
    # Intervals to merge: islands, and open sessions (old_ws identifies one, so its users can
    # follow it into the merged session).
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_session_groups AS
        WITH islands AS (
            SELECT view, key, island, min(t) AS s, max(t) AS e, sum(n) AS n, any_value(gap) AS gap
            FROM batch_session_points GROUP BY view, key, island
        ), items AS (
            SELECT view, key, island, s, e, n, gap, NULL::BIGINT AS old_ws FROM islands
            UNION ALL
            SELECT sw.view, sw.key, NULL, sw.ws, sw.we - g.gap, sw.pv_count, g.gap, sw.ws
            FROM state_windows sw
            JOIN (SELECT DISTINCT view, key, gap FROM islands) g USING (view, key)
        ), ordered AS (
            SELECT *, max(e) OVER (
                PARTITION BY view, key ORDER BY s, e
                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_end
            FROM items
        ), numbered AS (
            SELECT *, sum(CASE WHEN previous_end IS NULL OR s - previous_end > gap THEN 1 END)
                OVER (PARTITION BY view, key ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS grp
            FROM ordered
        )
        SELECT *, min(s) OVER (PARTITION BY view, key, grp) AS new_ws,
            max(e) OVER (PARTITION BY view, key, grp) + gap AS new_we
        FROM numbered
        """
    )
    # Users of merged sessions move to the merged session's start.
    con.execute(
        """
        UPDATE state_window_users u SET ws = g.new_ws
        FROM batch_session_groups g
        WHERE g.old_ws IS NOT NULL AND g.old_ws <> g.new_ws
            AND u.view = g.view AND u.key = g.key AND u.ws = g.old_ws
        """
    )
    con.execute(
        """
        DELETE FROM state_windows sw USING batch_session_groups g
        WHERE g.old_ws IS NOT NULL AND sw.view = g.view AND sw.key = g.key AND sw.ws = g.old_ws
        """
    )
    con.execute(
        """
        INSERT INTO state_windows
        SELECT view, key, new_ws, any_value(new_we), sum(n), 0, 0
        FROM batch_session_groups GROUP BY view, key, new_ws
        """
    )
    # Per-user sessions need no distinct user count: their key is the user.
    con.execute(
        """
        INSERT INTO state_window_users
        SELECT DISTINCT e.view, e.key, g.new_ws, e.user_id
        FROM batch_session_events e
        JOIN batch_session_points p ON p.view = e.view AND p.key = e.key AND p.t = e.t
        JOIN batch_session_groups g ON g.old_ws IS NULL AND g.view = p.view AND g.key = p.key
            AND g.island = p.island
        WHERE NOT e.late AND e.view = $source_view
        EXCEPT
        SELECT view, key, ws, user_id FROM state_window_users
        """,
        {"source_view": views.SESSION},
    )
