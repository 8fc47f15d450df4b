"""Page views by country: wait for the watermark, then join each view to its user as of t.

A page view at t waits until W >= t, so every user version with updated_at <= t that will
ever count has arrived; the join is then exact whatever the arrival order.

    seq:   5 pv(t=100)   6 user(updated 90)   7 pv(t=135)  -> W=105 >= 100: release at seq 7
    join:  versions of that user with seq <= 7 and updated <= 100 -> the one from seq 6
"""

from __future__ import annotations

import duckdb

from pageviews.config import WindowConfig
from pageviews.engine import views
from pageviews.engine.fixed_windows import add_contributions, record_late_events

UNKNOWN_COUNTRY = "unknown"


def admit_country_views(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> None:
    """Late page views go to late_events; the others wait in state_pending_country."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_country AS
        SELECT $view AS view, seq, user_id, t, t - t % $size AS ws,
            t - t % $size + $size <= w_at AS late
        FROM batch_pv
        """,
        {"view": views.COUNTRY, "size": config.country_ms},
    )
    record_late_events(con, "batch_country")
    con.execute(
        "INSERT INTO state_pending_country SELECT seq, user_id, t FROM batch_country WHERE NOT late"
    )


def release_and_join(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> None:
    """Apply every waiting page view whose time the watermark has reached in this batch."""
    # The first seq of the batch at which each watermark value was reached; W only grows, so
    # the smallest W >= t also has the smallest seq.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_released AS
        WITH steps AS (SELECT w, min(seq) AS first_seq FROM batch_wm GROUP BY w)
        SELECT p.seq, p.user_id, p.t, greatest(p.seq, steps.first_seq) AS release_seq
        FROM state_pending_country p ASOF JOIN steps ON p.t <= steps.w
        """
    )
    con.execute("DELETE FROM state_pending_country WHERE seq IN (SELECT seq FROM batch_released)")
    # Which versions may a page view released at seq r see? Those with seq <= r. Every version
    # from an earlier batch qualifies, and so does every version of this batch that arrived on
    # time (updated_at > W at its arrival): had it come after r, W would already have been
    # >= t >= updated_at. So one ASOF join finds the latest such version at or before t, and
    # only this batch's late versions (rare) need the explicit seq check.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_matched AS
        WITH visible AS (
            SELECT user_id, updated_ms, seq, op, country, age FROM state_user_versions
            UNION ALL
            SELECT v.user_id, v.updated_ms, v.seq, v.op, v.country, v.age
            FROM batch_user_versions v JOIN batch_wm wm USING (seq)
            WHERE v.updated_ms > wm.w
        ), latest_per_time AS (
            -- Ties in updated_at go to the later arrival.
            SELECT * FROM visible
            QUALIFY row_number() OVER (PARTITION BY user_id, updated_ms ORDER BY seq DESC) = 1
        )
        SELECT r.seq, r.user_id, r.t, r.release_seq, v.updated_ms, v.seq AS version_seq,
            v.op, v.country, v.age
        FROM batch_released r
        ASOF LEFT JOIN latest_per_time v ON r.user_id = v.user_id AND r.t >= v.updated_ms
        """
    )
    con.execute(
        """
        UPDATE batch_matched m
        SET updated_ms = late.updated_ms, version_seq = late.seq, op = late.op,
            country = late.country, age = late.age
        FROM (
            SELECT m.seq AS pv_seq, v.*
            FROM batch_matched m
            JOIN batch_user_versions v ON v.user_id = m.user_id
                AND v.seq <= m.release_seq AND v.updated_ms <= m.t
            JOIN batch_wm wm ON wm.seq = v.seq
            WHERE v.updated_ms <= wm.w
            QUALIFY row_number() OVER (
                PARTITION BY m.seq ORDER BY v.updated_ms DESC, v.seq DESC) = 1
        ) late
        WHERE m.seq = late.pv_seq AND (m.updated_ms IS NULL
            OR (late.updated_ms, late.seq) > (m.updated_ms, m.version_seq))
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_contrib AS
        SELECT $view AS view,
            CASE WHEN op = 'upsert' THEN country ELSE $unknown END AS key,
            t - t % $size AS ws, t - t % $size + $size AS we, user_id,
            CASE WHEN op = 'upsert' THEN age END AS age
        FROM batch_matched
        """,
        {"view": views.COUNTRY, "unknown": UNKNOWN_COUNTRY, "size": config.country_ms},
    )
    add_contributions(con, "batch_contrib")
