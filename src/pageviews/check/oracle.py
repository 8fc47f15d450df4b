"""The oracle: every result table recomputed in plain batch SQL from the stored raw records.

It is written from the rules in docs/semantics.md (and the engine contract) alone, without the
engine's code, so that the two can be compared (`pageviews check`). Nothing is incremental here:
the watermark after every seq is a running max, windows come from interval arithmetic, sessions
from gaps-and-islands, and the country join from an ASOF JOIN on the watermark.

Every `expected_<name>` table has the columns of the result table `<name>`, except
`expected_late_events`, which has (view, window_start, seq): the raw line of a late page view is
not kept in raw_pageviews, so it cannot be recomputed.

Only module constants (table and column names) are ever formatted into SQL; every number from the
configuration is bound as a parameter.
"""

from __future__ import annotations

import duckdb

from pageviews.config import WindowConfig
from pageviews.model.records import UNKNOWN_COUNTRY
from pageviews.store.schema import RESULT_TABLES

# The result tables the oracle recomputes, in report order (dead_letters are input, not results).
EXPECTED_TABLES = tuple(table for table in RESULT_TABLES if table != "dead_letters")

# Views whose late page views are listed in late_events.
_LATE_VIEWS = (
    "pageview_tumbling",
    "pageview_hopping",
    "pageview_session",
    "user_sessions",
    "pageview_country",
)

# Helper tables, dropped once the expected tables exist.
_HELPER_TABLES = (
    "oracle_watermark",
    "oracle_pageviews",
    "oracle_usable_versions",
    "oracle_assigned",
    *(f"oracle_late_{view}" for view in _LATE_VIEWS),
)


def expected_tables(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> dict[str, str]:
    """Create a TEMP table `expected_<name>` per result table; return {name: temp table name}."""
    con.execute("SET TimeZone='UTC'")
    final_watermark_ms = _watermarks(con, config)
    _usable_versions(con)
    _cleaned_users(con)
    _fixed_windows(
        con, "pageview_tumbling", config.tumbling_ms, config.tumbling_ms, final_watermark_ms
    )
    _fixed_windows(
        con,
        "pageview_hopping",
        config.hopping_size_ms,
        config.hopping_step_ms,
        final_watermark_ms,
    )
    _sessions(con, "pageview_session", "source", config.session_gap_ms, final_watermark_ms)
    _sessions(con, "user_sessions", "user_id", config.user_session_gap_ms, final_watermark_ms)
    _country(con, config.country_ms, final_watermark_ms)
    _late_events(con)
    for helper in _HELPER_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {helper}")
    return {name: f"expected_{name}" for name in EXPECTED_TABLES}


def _watermarks(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> int | None:
    """oracle_watermark(seq, w_ms): W after each stored seq; oracle_pageviews: W at arrival.

    Returns the final W (None when nothing is stored).
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE oracle_watermark AS
        WITH
        -- What each stored seq pushes the watermark to: any valid record its event time minus
        -- the lateness, a tick its own value. Dead letters propose nothing.
        proposals AS (
            SELECT seq, event_ms - $lateness_ms AS proposed_ms FROM raw_pageviews
            UNION ALL
            SELECT seq, login_ms - $lateness_ms FROM raw_usersessions
            UNION ALL
            SELECT seq, updated_ms - $lateness_ms FROM raw_users
            UNION ALL
            SELECT seq, watermark_ms FROM raw_ticks
        )
        -- W never decreases: it is the running max in arrival order.
        SELECT seq, max(proposed_ms) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS w_ms
        FROM proposals
        """,
        {"lateness_ms": config.lateness_ms},
    )
    # Lateness is decided once, against W just after the page view's own arrival.
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE oracle_pageviews AS
        SELECT pv.seq, pv.user_id, pv.source, pv.event_ms, wm.w_ms AS w_at_arrival_ms
        FROM raw_pageviews AS pv
        JOIN oracle_watermark AS wm USING (seq)
        """
    )
    row = con.execute("SELECT max(w_ms) FROM oracle_watermark").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _usable_versions(con: duckdb.DuckDBPyConnection) -> None:
    """oracle_usable_versions: the user versions that count, deletes and complete upserts.

    Incomplete upserts (any NULL among age, gender, country, subscription) are ignored, as the
    reference system's `WHERE ... NOT NULL` before `LATEST_BY_OFFSET` does.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE oracle_usable_versions AS
        SELECT seq, op, user_id, age, gender, country, subscription, updated_ms
        FROM raw_users
        WHERE op = 'delete'
           OR (age IS NOT NULL AND gender IS NOT NULL AND country IS NOT NULL
               AND subscription IS NOT NULL)
        """
    )


def _cleaned_users(con: duckdb.DuckDBPyConnection) -> None:
    """expected_cleaned_users: each user as of +infinity (absent when the latest is a delete)."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE expected_cleaned_users AS
        WITH
        -- Latest usable version per user; ties in updated_ms go to the later arrival.
        latest_version AS (
            SELECT *
            FROM oracle_usable_versions
            QUALIFY row_number() OVER (
                PARTITION BY user_id ORDER BY updated_ms DESC, seq DESC) = 1
        )
        SELECT user_id, age, gender, country, subscription,
               make_timestamptz(updated_ms * 1000) AS updated_at
        FROM latest_version
        WHERE op = 'upsert'
        """
    )


def _assign_fixed_windows(con: duckdb.DuckDBPyConnection, size_ms: int, step_ms: int) -> None:
    """oracle_assigned: one row per (page view, epoch-aligned window it falls in), with lateness.

    Tumbling windows are hopping windows whose step is their size.
    """
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE oracle_assigned AS
        WITH
        -- A page view at t lies in size/step windows: the one starting at the step boundary at
        -- or before t, and those starting 1, 2, ... steps earlier.
        windows AS (
            SELECT pv.seq, pv.user_id, pv.source, pv.event_ms, pv.w_at_arrival_ms,
                   pv.event_ms - pv.event_ms % $step_ms - hop.range * $step_ms AS start_ms
            FROM oracle_pageviews AS pv
            CROSS JOIN range($hops) AS hop
        )
        SELECT *, start_ms + $size_ms AS end_ms,
               -- Late: this window had already closed (end <= W) when the page view arrived.
               start_ms + $size_ms <= w_at_arrival_ms AS is_late
        FROM windows
        """,
        {"step_ms": step_ms, "size_ms": size_ms, "hops": size_ms // step_ms},
    )


def _late_rows_of_assigned(con: duckdb.DuckDBPyConnection, view: str) -> None:
    """oracle_late_<view>: one row per (late page view, window it missed) of oracle_assigned."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE oracle_late_{view} AS
        SELECT $view AS view, make_timestamptz(start_ms * 1000) AS window_start, seq
        FROM oracle_assigned
        WHERE is_late
        """,  # noqa: S608 -- view is a module constant
        {"view": view},
    )


def _fixed_windows(
    con: duckdb.DuckDBPyConnection,
    view: str,
    size_ms: int,
    step_ms: int,
    final_watermark_ms: int | None,
) -> None:
    """expected_<view> for pageview_tumbling / pageview_hopping (key source)."""
    _assign_fixed_windows(con, size_ms, step_ms)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE expected_{view} AS
        SELECT make_timestamptz(start_ms * 1000) AS window_start,
               make_timestamptz(end_ms * 1000) AS window_end,
               source,
               count(*) AS pageview_count,
               count(DISTINCT user_id) AS user_count,
               end_ms <= $final_watermark_ms AS is_final
        FROM oracle_assigned
        WHERE NOT is_late
        GROUP BY start_ms, end_ms, source
        """,  # noqa: S608 -- view is a module constant
        {"final_watermark_ms": final_watermark_ms},
    )
    _late_rows_of_assigned(con, view)


def _sessions(
    con: duckdb.DuckDBPyConnection,
    view: str,
    key: str,
    gap_ms: int,
    final_watermark_ms: int | None,
) -> None:
    """expected_<view> for pageview_session (key source) / user_sessions (key user_id)."""
    # user_sessions counts page views only; pageview_session also counts distinct users.
    user_count_column = ", user_count" if view == "pageview_session" else ""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE expected_{view} AS
        WITH
        -- Session lateness: the event itself is at or behind W when it arrives.
        applied AS (
            SELECT seq, {key} AS session_key, user_id, event_ms
            FROM oracle_pageviews
            WHERE event_ms > w_at_arrival_ms
        ),
        -- Gaps-and-islands: an event opens a session when it is the first of its key or more
        -- than gap after the previous one (a gap of exactly `gap` keeps the session). seq breaks
        -- ties so that both window functions see the same order.
        session_openers AS (
            SELECT *,
                   coalesce(event_ms - lag(event_ms) OVER by_time > $gap_ms, true) AS opens_session
            FROM applied
            WINDOW by_time AS (PARTITION BY session_key ORDER BY event_ms, seq)
        ),
        numbered AS (
            SELECT *,
                   sum(opens_session::INTEGER) OVER (
                       PARTITION BY session_key ORDER BY event_ms, seq
                       ROWS UNBOUNDED PRECEDING) AS session_no
            FROM session_openers
        ),
        sessions AS (
            SELECT session_key, min(event_ms) AS start_ms, max(event_ms) + $gap_ms AS end_ms,
                   count(*) AS pageview_count, count(DISTINCT user_id) AS user_count
            FROM numbered
            GROUP BY session_key, session_no
        )
        SELECT session_key AS {key},
               make_timestamptz(start_ms * 1000) AS window_start,
               make_timestamptz(end_ms * 1000) AS window_end,
               pageview_count{user_count_column},
               end_ms <= $final_watermark_ms AS is_final
        FROM sessions
        """,  # noqa: S608 -- view and key are module constants
        {"gap_ms": gap_ms, "final_watermark_ms": final_watermark_ms},
    )
    # A late session contribution is recorded at the event's own time.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE oracle_late_{view} AS
        SELECT $view AS view, make_timestamptz(event_ms * 1000) AS window_start, seq
        FROM oracle_pageviews
        WHERE event_ms <= w_at_arrival_ms
        """,  # noqa: S608 -- view is a module constant
        {"view": view},
    )


def _country(con: duckdb.DuckDBPyConnection, size_ms: int, final_watermark_ms: int | None) -> None:
    """expected_pageview_country: tumbling windows keyed by the country of the user as of t."""
    _assign_fixed_windows(con, size_ms, size_ms)
    _late_rows_of_assigned(con, "pageview_country")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE expected_pageview_country AS
        WITH
        on_time AS (
            SELECT seq, user_id, event_ms, start_ms, end_ms
            FROM oracle_assigned
            WHERE NOT is_late
        ),
        -- W never decreases, so the first seq with W >= t is the first seq of the smallest
        -- watermark value >= t.
        watermark_steps AS (
            SELECT w_ms, min(seq) AS first_seq
            FROM oracle_watermark
            GROUP BY w_ms
        ),
        -- Release seq: the page view's own seq if W had already reached t on arrival, else the
        -- first later seq that brings W to t. A page view that W never reaches has no match and
        -- drops out here: it is still waiting and counts nowhere.
        released AS (
            SELECT pv.*, greatest(pv.seq, step.first_seq) AS release_seq
            FROM on_time AS pv
            ASOF JOIN watermark_steps AS step ON pv.event_ms <= step.w_ms
        ),
        -- The user as of t: among the usable versions valid at t (updated_ms <= t) that had
        -- arrived by the release, the greatest (updated_ms, seq).
        user_as_of AS (
            SELECT pv.seq, arg_max(version.seq, (version.updated_ms, version.seq)) AS version_seq
            FROM released AS pv
            JOIN oracle_usable_versions AS version
              ON version.user_id = pv.user_id
             AND version.seq <= pv.release_seq
             AND version.updated_ms <= pv.event_ms
            GROUP BY pv.seq
        ),
        -- No version, or a delete: no user exists, so the unknown country and no age.
        joined AS (
            SELECT pv.start_ms, pv.end_ms, pv.user_id,
                   coalesce(
                       CASE WHEN version.op = 'upsert' THEN version.country END, $unknown_country
                   ) AS country,
                   CASE WHEN version.op = 'upsert' THEN version.age END AS age
            FROM released AS pv
            LEFT JOIN user_as_of ON user_as_of.seq = pv.seq
            LEFT JOIN oracle_usable_versions AS version ON version.seq = user_as_of.version_seq
        )
        SELECT make_timestamptz(start_ms * 1000) AS window_start,
               make_timestamptz(end_ms * 1000) AS window_end,
               country,
               count(*) AS pageview_count,
               count(DISTINCT user_id) AS user_count,
               avg(age)::DOUBLE AS average_age,
               end_ms <= $final_watermark_ms AS is_final
        FROM joined
        GROUP BY start_ms, end_ms, country
        """,
        {"final_watermark_ms": final_watermark_ms, "unknown_country": UNKNOWN_COUNTRY},
    )


def _late_events(con: duckdb.DuckDBPyConnection) -> None:
    """expected_late_events(view, window_start, seq): every view's late rows together."""
    union = " UNION ALL ".join(
        f"SELECT view, window_start, seq FROM oracle_late_{view}"  # noqa: S608 -- constant
        for view in _LATE_VIEWS
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE expected_late_events AS {union}")
