"""The oracle: every result table recomputed in plain batch SQL from the stored raw records.

It is written from the rules in docs/semantics.md (and the engine contract) alone, without the
engine's code, so that the two can be compared (`pageviews check`). Nothing is incremental here:
the watermark after every seq is a running max, windows come from interval arithmetic, sessions
from gaps-and-islands, and the country join from an ASOF JOIN on the watermark.

Every `expected_<name>` table has the columns of the result table `<name>`, except
`expected_late_events`, which has (view, window_start, seq): the raw line of a late page view is
not kept in raw_pageviews, so it cannot be recomputed.

The stack's results are recomputed with the Flink job's rules instead (`StackRules`,
docs/semantics.md sections 11 and 12): its watermark depends on how partitions interleave, so
which records are late is taken from the job's own late rows, and each one is held to what its
own partition allows; everything else is recomputed exactly.

Only module constants (table and column names) are ever formatted into SQL; every number from the
configuration is bound as a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pageviews.config import WindowConfig
from pageviews.model.records import UNKNOWN_COUNTRY, RecordType
from pageviews.model.results import (
    DEAD_LETTERS,
    RESULT_TABLES,
    WINDOW_TABLES,
    Measure,
    ResultTable,
    Windowing,
)
from pageviews.model.windows import Hopping, Session

# The result tables the oracle recomputes, in report order (dead_letters are input, not results).
EXPECTED_TABLES = tuple(table.name for table in RESULT_TABLES if table is not DEAD_LETTERS)

# The record types that window views count: each gets oracle_arrivals_<type>.
_COUNTED_TYPES = {
    table.windowing.records.name: table.windowing.records
    for table in WINDOW_TABLES
    if table.windowing is not None
}

# The final watermark of a bounded Flink job: +inf, in ms that SQL can still add to.
BOUNDED_JOB_FINAL_MS = 2**62


@dataclass(frozen=True)
class StackRules:
    """The Flink job's rules, for `pageviews check --backend stack` on a finished replay.

    - `bounds`, a table with columns seq and prior_max_ms: per page view and user session, the
      greatest event time that moved the watermark before it in its Kafka partition (NULL:
      none). The job's watermark at the record is at most `prior_max_ms - lateness`, whatever
      the other partitions did.
    - `reported(view, start_ms, seq)`: the late rows the job wrote, by window start (a session
      view: the event time) and the seq of the record.

    A record is late where the job reported it late and its partition allows it: Flink calls a
    window late at `end - 1 <= W`. A user version older than one of the same user that arrived
    before it is dropped (the versioned view is a deduplication by `updated_at`), and a bounded
    job ends with W = +inf: every page view is joined, every window final.
    """

    bounds: str
    reported: str


# Helper tables, dropped once the expected tables exist.
_HELPER_TABLES = (
    "oracle_watermark",
    *(f"oracle_arrivals_{record_type.name}" for record_type in _COUNTED_TYPES.values()),
    "oracle_usable_versions",
    "oracle_assigned",
    *(f"oracle_late_{table.name}" for table in WINDOW_TABLES),
)


def expected_tables(
    con: duckdb.DuckDBPyConnection, config: WindowConfig, stack: StackRules | None = None
) -> dict[str, str]:
    """Create a TEMP table `expected_<name>` per result table; return {name: temp table name}.

    With `stack`, by the Flink job's rules (see StackRules); else by the embedded engine's."""
    con.execute("SET TimeZone='UTC'")
    if stack is None:
        final_watermark_ms = _watermarks(con, config)
    else:
        _stack_arrivals(con, config, stack)
        final_watermark_ms = BOUNDED_JOB_FINAL_MS
    _usable_versions(con, newest_first=stack is not None)
    _cleaned_users(con)
    for table in WINDOW_TABLES:
        windowing = _windowing(table)
        windower = windowing.windower(config)
        late = _Lateness(table, stack)
        if windowing.joined_to_users:
            assert isinstance(windower, Hopping)
            _country(con, late, windower, final_watermark_ms)
        elif isinstance(windower, Session):
            _sessions(con, late, windowing, windower, final_watermark_ms)
        else:
            _fixed_windows(con, late, windowing, windower, final_watermark_ms)
    _late_events(con)
    for helper in _HELPER_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {helper}")
    return {name: f"expected_{name}" for name in EXPECTED_TABLES}


def _watermarks(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> int | None:
    """oracle_watermark(seq, w_ms): W after each stored seq; oracle_arrivals_<type>: each
    counted record with its event time (event_ms) and W at its arrival.

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
    # Lateness is decided once, against W just after the record's own arrival.
    _arrivals(con, "oracle_watermark", "wm.w_ms", {})
    row = con.execute("SELECT max(w_ms) FROM oracle_watermark").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _stack_arrivals(
    con: duckdb.DuckDBPyConnection, config: WindowConfig, stack: StackRules
) -> None:
    """oracle_arrivals_<type> by the job's rule: W at a record is at most its partition's."""
    _arrivals(
        con, stack.bounds, "wm.prior_max_ms - $lateness_ms", {"lateness_ms": config.lateness_ms}
    )


def _arrivals(
    con: duckdb.DuckDBPyConnection, watermarks: str, w_sql: str, params: dict[str, int]
) -> None:
    """oracle_arrivals_<type>: each counted record with its event time (event_ms) and W at its
    arrival, `w_sql` over the table `watermarks` (as `wm`, joined by seq)."""
    for record_type in _COUNTED_TYPES.values():
        time_column = _time_column(record_type)
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE oracle_arrivals_{record_type.name} AS
            SELECT r.* EXCLUDE ({time_column}), r.{time_column} AS event_ms,
                   {w_sql} AS w_at_arrival_ms
            FROM {record_type.table} AS r
            JOIN {watermarks} AS wm USING (seq)
            """,  # noqa: S608 -- names from the record model and the callers
            params,
        )


class _Lateness:
    """How one view decides that a record is late for a window (`threshold_sql`: the window's
    end, or the event's time for a session view), as SQL over a row with `seq`, `w_at_arrival_ms`
    and `reported` (see `reported_join`)."""

    def __init__(self, table: ResultTable, stack: StackRules | None) -> None:
        self.table = table
        self.stack = stack

    def condition(self, threshold_sql: str) -> str:
        if self.stack is None:
            return f"{threshold_sql} <= w_at_arrival_ms"
        # Flink fires a window at end - 1; and only a reported record is late.
        return f"coalesce({threshold_sql} - 1 <= w_at_arrival_ms AND reported, false)"

    def reported_join(self, start_sql: str) -> str:
        """A join that adds `reported`: whether the job reported (seq, window start) late."""
        if self.stack is None:
            return ""
        # Names only: the caller's table, a catalogue name, a column expression of ours.
        reported = f"SELECT DISTINCT seq, start_ms AS reported_start, true AS reported FROM {self.stack.reported} WHERE view = '{self.table.name}'"  # noqa: S608, E501
        return (
            f"LEFT JOIN ({reported}) AS report "
            f"ON report.seq = r.seq AND report.reported_start = {start_sql}"
        )


def _usable_versions(con: duckdb.DuckDBPyConnection, newest_first: bool) -> None:
    """oracle_usable_versions: the user versions that count, deletes and complete upserts.

    Incomplete upserts (any NULL among age, gender, country, subscription) are ignored, as the
    reference system's `WHERE ... NOT NULL` before `LATEST_BY_OFFSET` does. `joinable` says
    whether the country join may use a version: with `newest_first` (the stack) only if no
    usable version of the user with a later `updated_at` arrived before it.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE oracle_usable_versions AS
        WITH usable AS (
            SELECT seq, op, user_id, age, gender, country, subscription, updated_ms
            FROM raw_users
            WHERE op = 'delete'
               OR (age IS NOT NULL AND gender IS NOT NULL AND country IS NOT NULL
                   AND subscription IS NOT NULL)
        )
        SELECT *, {_NEWEST_FIRST if newest_first else "true"} AS joinable
        FROM usable
        WINDOW earlier AS (
            PARTITION BY user_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
        """  # noqa: S608 -- one of two constant expressions
    )


# On the stack, a version older than one of its user that arrived before it is dropped.
_NEWEST_FIRST = "coalesce(updated_ms >= max(updated_ms) OVER earlier, true)"


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


def _windowing(table: ResultTable) -> Windowing:
    assert table.windowing is not None, f"{table.name} is not a window table"
    return table.windowing


def _time_column(record_type: RecordType) -> str:
    return next(f.column_name for f in record_type.fields if f.name == record_type.event_time)


def _select_list(table: ResultTable, values: dict[Measure, str]) -> str:
    """The table's columns, each as the oracle's SQL for what the catalogue says it holds."""
    return ", ".join(
        f"{values[column.measure]} AS {column.name}"
        for column in table.columns
        if column.measure is not None
    )


# Window bounds and finality, over rows with start_ms and end_ms.
_BOUNDS = {
    Measure.WINDOW_START: "make_timestamptz(start_ms * 1000)",
    Measure.WINDOW_END: "make_timestamptz(end_ms * 1000)",
    Measure.IS_FINAL: "end_ms <= $final_watermark_ms",
}


def _assign_fixed_windows(
    con: duckdb.DuckDBPyConnection,
    late: _Lateness,
    records: RecordType,
    key_sql: str,
    windower: Hopping,
) -> None:
    """oracle_assigned: one row per (record, epoch-aligned window it falls in), with lateness.

    Tumbling windows are hopping windows whose step is their size.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE oracle_assigned AS
        WITH
        -- A record at t lies in size/step windows: the one starting at the step boundary at
        -- or before t, and those starting 1, 2, ... steps earlier.
        windows AS (
            SELECT r.seq, r.user_id, {key_sql} AS key, r.event_ms, r.w_at_arrival_ms,
                   r.event_ms - r.event_ms % $step_ms - hop.range * $step_ms AS start_ms
            FROM oracle_arrivals_{records.name} AS r
            CROSS JOIN range($hops) AS hop
        )
        SELECT r.*, start_ms + $size_ms AS end_ms,
               -- Late: this window had already closed (end <= W) when the record arrived.
               {late.condition("start_ms + $size_ms")} AS is_late
        FROM windows AS r
        {late.reported_join("r.start_ms")}
        """,  # noqa: S608 -- names from the catalogue
        {
            "step_ms": windower.step_ms,
            "size_ms": windower.size_ms,
            "hops": windower.windows_per_event,
        },
    )


def _late_rows_of_assigned(con: duckdb.DuckDBPyConnection, table: ResultTable) -> None:
    """oracle_late_<table>: one row per (late record, window it missed) of oracle_assigned."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE oracle_late_{table.name} AS
        SELECT $view AS view, make_timestamptz(start_ms * 1000) AS window_start, seq
        FROM oracle_assigned
        WHERE is_late
        """,  # noqa: S608 -- a catalogue name
        {"view": table.name},
    )


def _fixed_windows(
    con: duckdb.DuckDBPyConnection,
    late: _Lateness,
    windowing: Windowing,
    windower: Hopping,
    final_watermark_ms: int | None,
) -> None:
    """expected_<table> for tumbling and hopping windows keyed by a field of the records."""
    table = late.table
    _assign_fixed_windows(con, late, windowing.records, f"r.{windowing.key_field}", windower)
    select = _select_list(
        table,
        {
            **_BOUNDS,
            Measure.KEY: "key",
            Measure.COUNT: "count(*)",
            Measure.USERS: "count(DISTINCT user_id)",
        },
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE expected_{table.name} AS
        SELECT {select}
        FROM oracle_assigned
        WHERE NOT is_late
        GROUP BY start_ms, end_ms, key
        """,  # noqa: S608 -- names from the catalogue
        {"final_watermark_ms": final_watermark_ms},
    )
    _late_rows_of_assigned(con, table)


def _sessions(
    con: duckdb.DuckDBPyConnection,
    late: _Lateness,
    windowing: Windowing,
    windower: Session,
    final_watermark_ms: int | None,
) -> None:
    """expected_<table> for session windows keyed by a field of the records."""
    table = late.table
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE oracle_session_arrivals AS
        SELECT r.*, {late.condition("r.event_ms")} AS is_late
        FROM oracle_arrivals_{windowing.records.name} AS r
        {late.reported_join("r.event_ms")}
        """  # noqa: S608 -- names from the catalogue
    )
    arrivals = "oracle_session_arrivals"
    select = _select_list(
        table,
        {
            **_BOUNDS,
            Measure.KEY: "session_key",
            Measure.COUNT: "record_count",
            Measure.USERS: "user_count",
        },
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE expected_{table.name} AS
        WITH
        -- Session lateness: the event itself is at or behind W when it arrives.
        applied AS (
            SELECT seq, {windowing.key_field} AS session_key, user_id, event_ms
            FROM {arrivals}
            WHERE NOT is_late
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
                   count(*) AS record_count, count(DISTINCT user_id) AS user_count
            FROM numbered
            GROUP BY session_key, session_no
        )
        SELECT {select}
        FROM sessions
        """,  # noqa: S608 -- names from the catalogue
        {"gap_ms": windower.gap_ms, "final_watermark_ms": final_watermark_ms},
    )
    # A late session contribution is recorded at the event's own time.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE oracle_late_{table.name} AS
        SELECT $view AS view, make_timestamptz(event_ms * 1000) AS window_start, seq
        FROM {arrivals}
        WHERE is_late
        """,  # noqa: S608 -- names from the catalogue
        {"view": table.name},
    )


def _country(
    con: duckdb.DuckDBPyConnection,
    late: _Lateness,
    windower: Hopping,
    final_watermark_ms: int | None,
) -> None:
    """expected_<table>: tumbling windows keyed by the country of the user as of t."""
    table = late.table
    _assign_fixed_windows(con, late, _windowing(table).records, "NULL", windower)
    _late_rows_of_assigned(con, table)
    select = _select_list(
        table,
        {
            **_BOUNDS,
            Measure.KEY: "country",
            Measure.COUNT: "count(*)",
            Measure.USERS: "count(DISTINCT user_id)",
            Measure.AVERAGE_AGE: "avg(age)::DOUBLE",
        },
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE expected_{table.name} AS
        WITH
        on_time AS (
            SELECT seq, user_id, event_ms, start_ms, end_ms
            FROM oracle_assigned
            WHERE NOT is_late
        ),
        {_RELEASED_ON_STACK if late.stack else _RELEASED}
        -- The user as of t: among the usable versions valid at t (updated_ms <= t) that had
        -- arrived by the release, the greatest (updated_ms, seq).
        user_as_of AS (
            SELECT pv.seq, arg_max(version.seq, (version.updated_ms, version.seq)) AS version_seq
            FROM released AS pv
            JOIN oracle_usable_versions AS version
              ON version.user_id = pv.user_id
             AND version.seq <= pv.release_seq
             AND version.joinable
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
        SELECT {select}
        FROM joined
        GROUP BY start_ms, end_ms, country
        """,  # noqa: S608 -- names from the catalogue
        {"final_watermark_ms": final_watermark_ms, "unknown_country": UNKNOWN_COUNTRY},
    )


# `released`: each page view with the last seq of the versions it may see.
_RELEASED = """
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
        ),"""
# A bounded job's W ends at +inf: every page view is joined, with the versions of the whole
# topic (a version that reached Kafka after W passed t would be missed: not so in a replay,
# whose user changes are all in Kafka before the job starts).
_RELEASED_ON_STACK = """
        released AS (
            SELECT pv.*, 9223372036854775807 AS release_seq
            FROM on_time AS pv
        ),"""


def _late_events(con: duckdb.DuckDBPyConnection) -> None:
    """expected_late_events(view, window_start, seq): every view's late rows together."""
    union = " UNION ALL ".join(
        f"SELECT view, window_start, seq FROM oracle_late_{table.name}"  # noqa: S608 -- names
        for table in WINDOW_TABLES
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE expected_late_events AS {union}")
