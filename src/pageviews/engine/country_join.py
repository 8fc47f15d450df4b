"""Page views by country: wait for the watermark, then join each view to its user as of t.

A page view at t waits until W >= t, so every user version with updated_at <= t that will
ever count has arrived; the join is then exact whatever the arrival order.

    seq:   5 pv(t=100)   6 user(updated 90)   7 pv(t=135)  -> W=105 >= 100: release at seq 7
    join:  versions of that user with seq <= 7 and updated <= 100 -> the one from seq 6
"""

from __future__ import annotations

import duckdb

from pageviews.config import WindowConfig
from pageviews.engine.fixed_windows import add_contributions, record_late_events

COUNTRY_VIEW = "pageview_country"
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
        {"view": COUNTRY_VIEW, "size": config.country_ms},
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
    # Versions from earlier batches all arrived before any release in this batch: an ASOF
    # join finds the latest one at or before t. This batch's own versions count only if they
    # arrived by the release seq; there are few, so a plain join filters them.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE batch_contrib AS
        WITH earlier AS (
            SELECT r.seq, u.updated_ms, u.seq AS version_seq, u.op, u.country, u.age
            FROM batch_released r
            ASOF JOIN state_user_versions u ON r.user_id = u.user_id AND r.t >= u.updated_ms
        ), this_batch AS (
            SELECT r.seq, v.updated_ms, v.seq AS version_seq, v.op, v.country, v.age
            FROM batch_released r
            JOIN batch_user_versions v ON v.user_id = r.user_id
                AND v.seq <= r.release_seq AND v.updated_ms <= r.t
        ), best AS (
            -- The latest version wins; ties in updated_at go to the later arrival.
            SELECT seq, arg_max({'op': op, 'country': country, 'age': age},
                                {'updated_ms': updated_ms, 'seq': version_seq}) AS version
            FROM (SELECT * FROM earlier UNION ALL SELECT * FROM this_batch)
            GROUP BY seq
        ), matched AS (
            SELECT r.seq, r.user_id, r.t, b.version.op, b.version.country, b.version.age
            FROM batch_released r LEFT JOIN best b USING (seq)
        )
        SELECT $view AS view,
            CASE WHEN op = 'upsert' THEN country ELSE $unknown END AS key,
            t - t % $size AS ws, t - t % $size + $size AS we, user_id,
            CASE WHEN op = 'upsert' THEN age END AS age
        FROM matched
        """,
        {"view": COUNTRY_VIEW, "unknown": UNKNOWN_COUNTRY, "size": config.country_ms},
    )
    add_contributions(con)
