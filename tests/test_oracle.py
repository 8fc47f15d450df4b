"""The oracle (pageviews.check): hand-made scenarios with exact expected rows, a brute-force
Python cross-check under Hypothesis, the diff report, and its speed on 1 M page views.

Times in scenarios are offsets from BASE_MS, which is aligned to every window size used, so that
a window [10 s, 20 s) really starts at BASE_MS + 10 000. Timelines read left to right in event
time; `#n` is the arrival seq, `W` the watermark after that arrival.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pageviews.check.diff import compare, format_diffs
from pageviews.check.oracle import EXPECTED_TABLES, StackRules, expected_tables
from pageviews.config import END_OF_INPUT_MS, WindowConfig
from pageviews.model.results import BY_NAME, EMBEDDED
from pageviews.store.schema import all_ddl

BASE_MS = 1_699_999_980_000  # 2023-11-14T22:13:00Z, a multiple of one minute
S = 1000  # one second in ms

# Row = tuple of plain values; times as ms offsets from BASE_MS.
Row = tuple[object, ...]


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone='UTC'")
    for ddl in all_ddl():
        connection.execute(ddl)
    yield connection
    connection.close()


class Input:
    """Appends raw records with consecutive seqs, as the ingest would store them."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.seq = 0

    def _next(self) -> int:
        self.seq += 1
        return self.seq - 1

    def pv(self, user_id: int, t_ms: int, source: str = "Homepage") -> int:
        seq = self._next()
        self.con.execute(
            "INSERT INTO raw_pageviews (seq, session_id, user_id, source, event_ms) "
            "VALUES (?, 's', ?, ?, ?)",
            [seq, user_id, source, BASE_MS + t_ms],
        )
        return seq

    def login(self, user_id: int, t_ms: int, device: str = "Mobile") -> int:
        seq = self._next()
        self.con.execute(
            "INSERT INTO raw_usersessions (seq, session_id, user_id, user_name, login_ms, device) "
            "VALUES (?, 's', ?, 'name', ?, ?)",
            [seq, user_id, BASE_MS + t_ms, device],
        )
        return seq

    def upsert(
        self,
        user_id: int,
        t_ms: int,
        country: str | None,
        age: int | None,
        gender: str | None = "f",
        subscription: str | None = "Gold",
    ) -> int:
        seq = self._next()
        self.con.execute(
            "INSERT INTO raw_users (seq, op, user_id, age, gender, country, subscription, "
            "updated_ms) VALUES (?, 'upsert', ?, ?, ?, ?, ?, ?)",
            [seq, user_id, age, gender, country, subscription, BASE_MS + t_ms],
        )
        return seq

    def delete(self, user_id: int, t_ms: int) -> int:
        seq = self._next()
        self.con.execute(
            "INSERT INTO raw_users (seq, op, user_id, updated_ms) VALUES (?, 'delete', ?, ?)",
            [seq, user_id, BASE_MS + t_ms],
        )
        return seq

    def dead_letter(self) -> int:
        """A malformed line: it takes a seq and nothing else."""
        return self._next()

    def tick(self, watermark_ms: int) -> int:
        seq = self._next()
        self.con.execute("INSERT INTO raw_ticks VALUES (?, ?)", [seq, watermark_ms])
        return seq

    def end(self) -> int:
        return self.tick(END_OF_INPUT_MS)


def _plain(value: object) -> object:
    """Timestamps as ms offsets from BASE_MS; floats rounded, so rows compare exactly."""
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000) - BASE_MS
    if isinstance(value, float):
        return round(value, 9)
    return value


def rows(con: duckdb.DuckDBPyConnection, table: str, where: str = "true") -> list[Row]:
    """Sorted rows of an expected table, in schema column order."""
    result = con.execute(f"SELECT * FROM expected_{table} WHERE {where}")  # noqa: S608 -- test
    names = [d[0] for d in result.description]
    # The result table's columns; late_events without the raw line, which cannot be recomputed.
    if table == "late_events":
        order = ["view", "window_start", "seq"]
    else:
        order = [c.name for c in BY_NAME[table].columns_of(EMBEDDED)]
    assert sorted(names) == sorted(order)
    index = [names.index(name) for name in order]
    return sorted(
        (tuple(_plain(row[i]) for i in index) for row in result.fetchall()),
        key=repr,
    )


def late(con: duckdb.DuckDBPyConnection, view: str) -> list[Row]:
    return [(start, seq) for _, start, seq in rows(con, "late_events", f"view = '{view}'")]


# --- scenarios -----------------------------------------------------------------------------


def test_tumbling_with_a_late_event(con: duckdb.DuckDBPyConnection) -> None:
    # L = 0, tumbling 10 s.
    #
    #   event time  0s        10s        20s
    #               [---------)[---------)
    #   #0 u1 @3       x                      W=3
    #   #1 u2 @12                 x           W=12: [0,10) closes
    #   #2 u3 @5          x (late: end 10 <= W 12) -> late_events, not counted
    #   #3 u4 @19                         x   W=19
    config = WindowConfig(lateness_ms=0, tumbling_ms=10 * S)
    feed = Input(con)
    feed.pv(1, 3 * S)
    feed.pv(2, 12 * S)
    late_seq = feed.pv(3, 5 * S)
    feed.pv(4, 19 * S)
    expected_tables(con, config)
    assert rows(con, "pageview_tumbling") == [
        (0, 10 * S, "Homepage", 1, 1, True),
        (10 * S, 20 * S, "Homepage", 2, 2, False),
    ]
    assert late(con, "pageview_tumbling") == [(0, late_seq)]


def test_logins_by_device_with_a_late_login(con: duckdb.DuckDBPyConnection) -> None:
    # Logins per device in tumbling windows of login time, lateness as for page views.
    #
    #   login time  0s        10s        20s
    #               [---------)[---------)
    #   #0 u1 Mobile  @3   x                    W=3
    #   #1 u1 Mobile  @4    x                   W=4   (same user: 2 logins, 1 user)
    #   #2 pv         @12              x        W=12: [0,10) closes
    #   #3 u2 Tablet  @6     x (late: end 10 <= W 12) -> late_events, not counted
    #   #4 u2 Desktop @15              x
    config = WindowConfig(lateness_ms=0, tumbling_ms=10 * S)
    feed = Input(con)
    feed.login(1, 3 * S)
    feed.login(1, 4 * S)
    feed.pv(3, 12 * S)
    late_seq = feed.login(2, 6 * S, device="Tablet")
    feed.login(2, 15 * S, device="Desktop")
    expected_tables(con, config)
    assert rows(con, "sessions_by_device") == [
        (0, 10 * S, "Mobile", 2, 1, True),
        (10 * S, 20 * S, "Desktop", 1, 1, False),
    ]
    assert late(con, "sessions_by_device") == [(0, late_seq)]


def test_hopping_five_windows_per_event_with_partial_lateness(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # L = 0, hopping size 10 s step 2 s: 5 windows per event.
    #
    #   #0 @11  windows starting 2 4 6 8 10                     W=11
    #   #1 @15  windows starting 6 8 10 12 14                   W=15
    #   #2 @7   windows starting -2 0 2 4 6 (ends 8 10 12 14 16):
    #           late for those ending <= 15 (-2 0 2 4), applied to [6,16) only
    config = WindowConfig(lateness_ms=0, hopping_size_ms=10 * S, hopping_step_ms=2 * S)
    feed = Input(con)
    feed.pv(1, 11 * S)
    feed.pv(2, 15 * S)
    late_seq = feed.pv(1, 7 * S, source="Inbox")
    expected_tables(con, config)
    assert rows(con, "pageview_hopping") == sorted(
        [
            (2 * S, 12 * S, "Homepage", 1, 1, True),
            (4 * S, 14 * S, "Homepage", 1, 1, True),
            (6 * S, 16 * S, "Homepage", 2, 2, False),
            (6 * S, 16 * S, "Inbox", 1, 1, False),
            (8 * S, 18 * S, "Homepage", 2, 2, False),
            (10 * S, 20 * S, "Homepage", 2, 2, False),
            (12 * S, 22 * S, "Homepage", 1, 1, False),
            (14 * S, 24 * S, "Homepage", 1, 1, False),
        ],
        key=repr,
    )
    assert late(con, "pageview_hopping") == sorted(
        [(-2 * S, late_seq), (0, late_seq), (2 * S, late_seq), (4 * S, late_seq)], key=repr
    )


def test_session_gap_of_exactly_gap_merges_and_gap_plus_one_splits(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # L = 2 s (with L = 0 every in-order event would be at W, hence late), gap 10 s.
    #
    #   #0 u1 @0         x                                  W=-2
    #   #1 u1 @10.000    |--10 000 ms--x                    W=8     same session
    #   #2 u2 @20.001                  |--10 001 ms--x      W=18.001 new session
    #   sessions: [0, 20.000) and [20.001, 30.001)
    config = WindowConfig(lateness_ms=2 * S, session_gap_ms=10 * S, user_session_gap_ms=10 * S)
    feed = Input(con)
    feed.pv(1, 0)
    feed.pv(1, 10_000)
    feed.pv(2, 20_001)
    expected_tables(con, config)
    assert rows(con, "pageview_session") == [
        (0, 20_000, "Homepage", 2, 1, False),
        (20_001, 30_001, "Homepage", 1, 1, False),
    ]
    assert rows(con, "user_sessions") == [
        (1, 0, 20_000, 2, False),
        (2, 20_001, 30_001, 1, False),
    ]
    assert late(con, "pageview_session") == []


def test_user_sessions_bridge_and_late_session_event(con: duckdb.DuckDBPyConnection) -> None:
    # L = 10 s, gap 10 s.
    #
    #   event time   0    3    9    12       18        28
    #   #0 u1 @0     x                                       W=-10
    #   #1 u1 @18                            x               W=8
    #   #2 u1 @9               x  (9 > W 8: applied, bridges 0 and 18 into [0, 28))
    #   #3 u2 @3          x       (3 <= W 8: late for both session views, window_start 3)
    #   #4 u2 @12                   x                        W=8 still
    config = WindowConfig(lateness_ms=10 * S, session_gap_ms=10 * S, user_session_gap_ms=10 * S)
    feed = Input(con)
    feed.pv(1, 0)
    feed.pv(1, 18 * S)
    feed.pv(1, 9 * S)
    late_seq = feed.pv(2, 3 * S)
    feed.pv(2, 12 * S)
    expected_tables(con, config)
    assert rows(con, "user_sessions") == [
        (1, 0, 28 * S, 3, False),
        (2, 12 * S, 22 * S, 1, False),
    ]
    assert rows(con, "pageview_session") == [(0, 28 * S, "Homepage", 4, 2, False)]
    assert late(con, "user_sessions") == [(3 * S, late_seq)]
    assert late(con, "pageview_session") == [(3 * S, late_seq)]


def test_end_of_input_tick_makes_everything_final(con: duckdb.DuckDBPyConnection) -> None:
    # L = 2 s, every window 10 s. Before the END tick W = 13 s closes nothing but [0,10)
    # tumbling windows; after it (W = +inf) every window and session is final.
    #
    #   #0 u1 @5     W=3
    #   #1 u1 @15    W=13
    #   #2 END       W=+inf
    config = WindowConfig(
        lateness_ms=2 * S,
        tumbling_ms=10 * S,
        hopping_size_ms=10 * S,
        hopping_step_ms=5 * S,
        session_gap_ms=10 * S,
        user_session_gap_ms=10 * S,
        country_ms=10 * S,
    )
    feed = Input(con)
    feed.pv(1, 5 * S)
    feed.pv(1, 15 * S)
    expected_tables(con, config)
    assert [row[-1] for row in rows(con, "pageview_tumbling")] == [True, False]
    assert rows(con, "user_sessions") == [(1, 5 * S, 25 * S, 2, False)]
    # Before END, the page view @15 waits for W to reach 15: it counts in no country row yet.
    assert rows(con, "pageview_country") == [(0, 10 * S, "unknown", 1, 1, None, True)]

    feed.login(1, 16 * S)
    feed.end()
    expected_tables(con, config)
    for table in EXPECTED_TABLES:
        if table not in ("cleaned_users", "late_events"):
            assert rows(con, table), table
            assert all(row[-1] is True for row in rows(con, table)), table
    assert rows(con, "pageview_country") == [
        (0, 10 * S, "unknown", 1, 1, None, True),
        (10 * S, 20 * S, "unknown", 1, 1, None, True),
    ]
    assert rows(con, "late_events") == []


def test_country_join_uses_versions_arrived_before_w_reached_t(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # L = 2 s, country windows 10 s.
    #
    #   #0 user 1 FR age 30 @0                    W=-2
    #   #1 pv u1 @5           waits (W < 5)       W=3
    #   #2 user 1 DE age 40 @4                    W=3   arrived before W reached 5: used
    #   #3 pv u2 @6           waits               W=4
    #   #4 pv u3 @8                               W=6   releases #1 (-> DE) and #3 (user 2: none)
    #   #5 user 2 IT age 50 @6                    W=6   W had already reached 6: not used by #3
    #   #6 (dead letter: takes a seq only)
    #   #7 END                                    W=+inf releases #4 (user 3: none)
    config = WindowConfig(lateness_ms=2 * S, country_ms=10 * S)
    feed = Input(con)
    feed.upsert(1, 0, "FR", 30)
    feed.pv(1, 5 * S)
    feed.upsert(1, 4 * S, "DE", 40)
    feed.pv(2, 6 * S)
    feed.pv(3, 8 * S)
    feed.upsert(2, 6 * S, "IT", 50)
    feed.dead_letter()
    expected_tables(con, config)
    # #4 still waits: W = 6 < 8.
    assert rows(con, "pageview_country") == [
        (0, 10 * S, "DE", 1, 1, 40.0, False),
        (0, 10 * S, "unknown", 1, 1, None, False),
    ]
    feed.end()
    expected_tables(con, config)
    assert rows(con, "pageview_country") == [
        (0, 10 * S, "DE", 1, 1, 40.0, True),
        (0, 10 * S, "unknown", 2, 2, None, True),
    ]


def test_country_join_of_a_page_view_arriving_after_w_passed_t(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # L = 0, country windows 10 s. W had reached t = 5 before the page view arrived, so it is
    # released at its own seq and sees every version stored before it, even one that itself
    # arrived after W had passed its updated_at.
    #
    #   #0 pv u9 @6                     W=6  (W reaches 5 here, before the page view below)
    #   #1 user 1 FR 30 @4              W=6
    #   #2 pv u1 @5   (window [0,10) still open: 10 > 6) released at #2 -> FR
    #   #3 user 1 DE 40 @5              arrives after the release: not used
    config = WindowConfig(lateness_ms=0, country_ms=10 * S)
    feed = Input(con)
    feed.pv(9, 6 * S)
    feed.upsert(1, 4 * S, "FR", 30)
    feed.pv(1, 5 * S)
    feed.upsert(1, 5 * S, "DE", 40)
    feed.end()
    expected_tables(con, config)
    assert rows(con, "pageview_country") == [
        (0, 10 * S, "FR", 1, 1, 30.0, True),
        (0, 10 * S, "unknown", 1, 1, None, True),
    ]
    assert rows(con, "cleaned_users") == [(1, 40, "f", "DE", "Gold", 5 * S)]


def test_user_versions_incomplete_delete_ties_and_cleaned_users(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # L = 0, country windows 10 s. Page views @5 are at W on arrival, so they join at once.
    #
    #   #0  user 1 FR 30 @1
    #   #1  user 1 DE, age NULL @2        incomplete: ignored (user 1 stays FR)
    #   #2  user 2 NL 20 @1
    #   #3  user 2 delete @2              user 2 gone
    #   #4  user 3 SE 60 @3
    #   #5  user 3 NO 70 @3               tie on updated_at: the later seq (NO) wins
    #   #6  user 4 PT 44 @2
    #   #7  user 4 delete @2              tie: the delete (later seq) wins
    #   #8  pv u1 @5 -> FR 30,  #9 pv u2 @5 -> unknown,  #10 pv u3 @5 -> NO 70
    #   #11 pv u4 @5 -> unknown
    #   #12 user 2 BE 25 @6               comeback, after t = 5: only cleaned_users sees it
    #   #13 user 3 gender NULL @7         incomplete: ignored by cleaned_users too
    #   #14 END
    config = WindowConfig(lateness_ms=0, country_ms=10 * S)
    feed = Input(con)
    feed.upsert(1, 1 * S, "FR", 30)
    feed.upsert(1, 2 * S, "DE", None)
    feed.upsert(2, 1 * S, "NL", 20)
    feed.delete(2, 2 * S)
    feed.upsert(3, 3 * S, "SE", 60)
    feed.upsert(3, 3 * S, "NO", 70)
    feed.upsert(4, 2 * S, "PT", 44)
    feed.delete(4, 2 * S)
    for user_id in (1, 2, 3, 4):
        feed.pv(user_id, 5 * S)
    feed.upsert(2, 6 * S, "BE", 25, gender="m", subscription="Silver")
    feed.upsert(3, 7 * S, "DK", 71, gender=None)
    feed.end()
    expected_tables(con, config)
    assert rows(con, "pageview_country") == sorted(
        [
            (0, 10 * S, "FR", 1, 1, 30.0, True),
            (0, 10 * S, "NO", 1, 1, 70.0, True),
            (0, 10 * S, "unknown", 2, 2, None, True),
        ],
        key=repr,
    )
    assert rows(con, "cleaned_users") == [
        (1, 30, "f", "FR", "Gold", 1 * S),
        (2, 25, "m", "BE", "Silver", 6 * S),
        (3, 70, "f", "NO", "Gold", 3 * S),
    ]


def test_average_age_and_distinct_users_per_country(con: duckdb.DuckDBPyConnection) -> None:
    # L = 0. Three views by two FR users aged 30 and 41: average over page views, not users.
    config = WindowConfig(lateness_ms=0, country_ms=10 * S)
    feed = Input(con)
    feed.upsert(1, 0, "FR", 30)
    feed.upsert(2, 0, "FR", 41)
    feed.pv(1, 1 * S)
    feed.pv(1, 2 * S)
    feed.pv(2, 3 * S)
    feed.end()
    expected_tables(con, config)
    assert rows(con, "pageview_country") == [(0, 10 * S, "FR", 3, 2, round(101 / 3, 9), True)]


def test_usersessions_and_ticks_move_the_watermark(con: duckdb.DuckDBPyConnection) -> None:
    # L = 0, tumbling 10 s. A login @12 and a tick at 20 s advance W like page views do.
    #
    #   #0 pv @3      W=3
    #   #1 login @12  W=12: [0,10) final
    #   #2 pv @5      late (end 10 <= 12)
    #   #3 tick 20 s  W=20: [10,20) final
    #   #4 pv @15     late
    config = WindowConfig(lateness_ms=0, tumbling_ms=10 * S)
    feed = Input(con)
    feed.pv(1, 3 * S)
    feed.login(1, 12 * S)
    first_late = feed.pv(1, 5 * S)
    feed.tick(BASE_MS + 20 * S)
    second_late = feed.pv(1, 15 * S)
    expected_tables(con, config)
    assert rows(con, "pageview_tumbling") == [(0, 10 * S, "Homepage", 1, 1, True)]
    assert late(con, "pageview_tumbling") == [(0, first_late), (10 * S, second_late)]


# --- the Flink job's rules (check --backend stack) ------------------------------------------


class StackFeed(Input):
    """Records with their partition's prior max event time, and the job's late reports."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(con)
        con.execute("CREATE TABLE bounds (seq BIGINT, prior_max_ms BIGINT)")
        con.execute("CREATE TABLE reported (view VARCHAR, start_ms BIGINT, seq BIGINT)")

    def pv_after(self, prior_max_ms: int | None, t_ms: int, user_id: int = 1) -> int:
        seq = self.pv(user_id, t_ms)
        prior = None if prior_max_ms is None else BASE_MS + prior_max_ms
        self.con.execute("INSERT INTO bounds VALUES (?, ?)", [seq, prior])
        return seq

    def report_late(self, view: str, start_ms: int, seq: int) -> None:
        self.con.execute("INSERT INTO reported VALUES (?, ?, ?)", [view, BASE_MS + start_ms, seq])


STACK_RULES = StackRules(bounds="bounds", reported="reported")


def test_stack_rules_take_lateness_from_reports_that_the_partition_allows(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # L = 0, tumbling 10 s. Flink's W at a record is at most the greatest event time before it
    # in its partition (its "prior"); Flink calls [0, 10 s) late at W >= 10 s - 1 ms.
    #
    #   #0 @12 s, prior none              not reported: counted
    #   #1 @5 s,  prior 12 s              reported late for [0, 10): allowed -> late
    #   #2 @6 s,  prior none              reported late: no W yet -> not allowed, counted
    #   #3 @7 s,  prior 9.999 s           reported late: W can be end - 1 -> late
    #   #4 @8 s,  prior 9.998 s           reported late: W < end - 1 -> not allowed, counted
    #   #5 @3 s,  prior 12 s              not reported: counted (another partition held W back)
    #   #6 @4 s,  prior 12 s              reported for [10 s, 20 s), which it is not in: counted
    config = WindowConfig(lateness_ms=0, tumbling_ms=10 * S)
    feed = StackFeed(con)
    feed.pv_after(None, 12 * S)
    allowed = [feed.pv_after(12 * S, 5 * S)]
    feed.report_late("pageview_tumbling", 0, allowed[0])
    for prior, t_ms in ((None, 6 * S), (9_999, 7 * S), (9_998, 8 * S)):
        seq = feed.pv_after(prior, t_ms)
        feed.report_late("pageview_tumbling", 0, seq)
        if prior == 9_999:
            allowed.append(seq)
    feed.pv_after(12 * S, 3 * S)
    wrong_window = feed.pv_after(12 * S, 4 * S)
    feed.report_late("pageview_tumbling", 10 * S, wrong_window)
    expected_tables(con, config, STACK_RULES)
    # A bounded job ends with W = +inf: every window is final.
    assert rows(con, "pageview_tumbling") == [
        (0, 10 * S, "Homepage", 4, 1, True),
        (10 * S, 20 * S, "Homepage", 1, 1, True),
    ]
    assert late(con, "pageview_tumbling") == sorted(((0, seq) for seq in allowed), key=repr)
    # Views that nothing reported late count every page view.
    assert sum(int(str(row[3])) for row in rows(con, "pageview_session")) == 7


def test_stack_rules_drop_a_user_version_older_than_one_before_it(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # L = 0, country 10 s. Flink's versioned view keeps a version only if it is not older than
    # the user's current one; cleaned_users still takes the latest by updated_at.
    #
    #   #0 user 1 DE @2 s
    #   #1 user 1 GB @6 s
    #   #2 user 1 FR @4 s     older than GB, which arrived before it: dropped by the join
    #   #3 pv user 1 @5 s     as of 5 s: FR in the embedded engine, DE on the stack
    config = WindowConfig(lateness_ms=0, country_ms=10 * S)
    feed = StackFeed(con)
    feed.upsert(1, 2 * S, "DE", 20)
    feed.upsert(1, 6 * S, "GB", 60)
    feed.upsert(1, 4 * S, "FR", 40)
    feed.pv_after(None, 5 * S)
    expected_tables(con, config, STACK_RULES)
    assert rows(con, "pageview_country") == [(0, 10 * S, "DE", 1, 1, 20.0, True)]
    assert [row[3] for row in rows(con, "cleaned_users")] == ["GB"]
    expected_tables(con, config)
    assert [row[2] for row in rows(con, "pageview_country")] == ["FR"]


# --- brute-force cross-check ---------------------------------------------------------------


@dataclass(frozen=True)
class Pv:
    user_id: int
    source: str
    t: int


@dataclass(frozen=True)
class UserVersion:
    user_id: int
    op: str
    country: str | None
    age: int | None
    t: int


@dataclass(frozen=True)
class Tick:
    watermark: int


Record = Pv | UserVersion | Tick


def reference(records: list[Record], config: WindowConfig) -> dict[str, Counter[Row]]:
    """The contract, executed one record at a time in plain Python (times as offsets)."""
    watermarks: list[float] = []  # W after each seq
    w: float = float("-inf")
    for record in records:
        proposed = record.watermark if isinstance(record, Tick) else record.t - config.lateness_ms
        w = max(w, proposed)
        watermarks.append(w)
    final_w = watermarks[-1] if watermarks else float("-inf")
    out: dict[str, Counter[Row]] = {name: Counter() for name in EXPECTED_TABLES}

    def fixed(view: str, size: int, step: int) -> dict[tuple[int, int, str], list[int]]:
        groups: dict[tuple[int, int, str], list[int]] = defaultdict(list)
        for seq, pv in enumerate(records):
            if not isinstance(pv, Pv):
                continue
            for k in range(size // step):
                start = pv.t - pv.t % step - k * step
                if start + size <= watermarks[seq]:
                    out["late_events"][(view, start, seq)] += 1
                else:
                    groups[(start, start + size, pv.source)].append(pv.user_id)
        return groups

    for view, size, step in (
        ("pageview_tumbling", config.tumbling_ms, config.tumbling_ms),
        ("pageview_hopping", config.hopping_size_ms, config.hopping_step_ms),
    ):
        for (start, end, source), users in fixed(view, size, step).items():
            row = (start, end, source, len(users), len(set(users)), end <= final_w)
            out[view][row] += 1

    for view, gap in (
        ("pageview_session", config.session_gap_ms),
        ("user_sessions", config.user_session_gap_ms),
    ):
        by_key: dict[object, list[Pv]] = defaultdict(list)
        for seq, pv in enumerate(records):
            if not isinstance(pv, Pv):
                continue
            if pv.t <= watermarks[seq]:
                out["late_events"][(view, pv.t, seq)] += 1
            else:
                by_key[pv.source if view == "pageview_session" else pv.user_id].append(pv)
        for key, events in by_key.items():
            events.sort(key=lambda e: e.t)
            chains: list[list[Pv]] = []
            for event in events:
                if chains and event.t - chains[-1][-1].t <= gap:
                    chains[-1].append(event)
                else:
                    chains.append([event])
            for chain in chains:
                start, end = chain[0].t, chain[-1].t + gap
                if view == "pageview_session":
                    chain_users = {e.user_id for e in chain}
                    out[view][(start, end, key, len(chain), len(chain_users), end <= final_w)] += 1
                else:
                    out[view][(key, start, end, len(chain), end <= final_w)] += 1

    def usable(version: UserVersion) -> bool:
        return version.op == "delete" or (version.country is not None and version.age is not None)

    versions = [(seq, r) for seq, r in enumerate(records) if isinstance(r, UserVersion)]
    country_groups: dict[tuple[int, int, str], list[tuple[int, int | None]]] = defaultdict(list)
    for seq, pv in enumerate(records):
        if not isinstance(pv, Pv):
            continue
        start = pv.t - pv.t % config.country_ms
        end = start + config.country_ms
        if end <= watermarks[seq]:
            out["late_events"][("pageview_country", start, seq)] += 1
            continue
        release = next((r for r in range(seq, len(records)) if watermarks[r] >= pv.t), None)
        if release is None:
            continue  # still waiting
        candidates = [
            (v.t, vseq, v)
            for vseq, v in versions
            if v.user_id == pv.user_id and vseq <= release and v.t <= pv.t and usable(v)
        ]
        best = max(candidates, key=lambda c: (c[0], c[1]))[2] if candidates else None
        if best is None or best.op == "delete":
            country_groups[(start, end, "unknown")].append((pv.user_id, None))
        else:
            assert best.country is not None
            country_groups[(start, end, best.country)].append((pv.user_id, best.age))
    for (start, end, country), members in country_groups.items():
        ages = [age for _, age in members if age is not None]
        average = round(sum(ages) / len(ages), 9) if ages else None
        country_users = {user for user, _ in members}
        country_row = (
            start,
            end,
            country,
            len(members),
            len(country_users),
            average,
            end <= final_w,
        )
        out["pageview_country"][country_row] += 1

    latest: dict[int, tuple[int, int, UserVersion]] = {}
    for vseq, v in versions:
        if usable(v) and (v.user_id not in latest or (v.t, vseq) > latest[v.user_id][:2]):
            latest[v.user_id] = (v.t, vseq, v)
    for user_id, (t, _, v) in latest.items():
        if v.op == "upsert":
            out["cleaned_users"][(user_id, v.age, "f", v.country, "Gold", t)] += 1
    return out


# A stream whose event times follow arrival (one second apart), pulled back by a jitter that is
# mostly small (in order or within lateness) and sometimes large (late); odd jitters put ties,
# exact gaps and window edges within reach.
_jitters_ms = st.sampled_from([0, 0, 1000, 2000, 3000, 5000, 8000, 12000]) | st.integers(0, 12_000)
_users = st.sampled_from([1, 1, 2])
_templates: st.SearchStrategy[Record] = st.one_of(
    st.builds(Pv, _users, st.sampled_from(["Homepage", "Homepage", "Inbox"]), _jitters_ms),
    st.builds(Pv, _users, st.sampled_from(["Homepage", "Homepage", "Inbox"]), _jitters_ms),
    st.builds(
        UserVersion,
        _users,
        st.sampled_from(["upsert", "upsert", "upsert", "delete"]),
        st.sampled_from(["FR", "DE", "FR", "DE", None]),
        st.sampled_from([20, 35, 35, None]),
        _jitters_ms,
    ),
    st.builds(Tick, _jitters_ms),
)


def _in_time(index: int, template: Record) -> Record:
    """The template's jitter turned into an event time (or tick value) near arrival index."""
    if isinstance(template, Tick):
        return Tick(max(0, index * S - template.watermark))
    return replace(template, t=max(0, index * S - template.t))


_records = st.lists(_templates, min_size=3, max_size=30).map(
    lambda templates: [_in_time(i, template) for i, template in enumerate(templates)]
)
_configs = st.builds(
    WindowConfig,
    lateness_ms=st.sampled_from([0, 2 * S, 5 * S]),
    tumbling_ms=st.just(10 * S),
    hopping_size_ms=st.just(10 * S),
    hopping_step_ms=st.sampled_from([2 * S, 5 * S, 10 * S]),
    session_gap_ms=st.sampled_from([3 * S, 5 * S]),
    user_session_gap_ms=st.sampled_from([3 * S, 4 * S]),
    country_ms=st.sampled_from([5 * S, 10 * S]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=_records, config=_configs, end=st.booleans())
def test_oracle_matches_brute_force_reference(
    records: list[Record], config: WindowConfig, end: bool
) -> None:
    connection = duckdb.connect()
    try:
        for ddl in all_ddl():
            connection.execute(ddl)
        feed = Input(connection)
        for record in records:
            if isinstance(record, Pv):
                feed.pv(record.user_id, record.t, record.source)
            elif isinstance(record, Tick):
                feed.tick(BASE_MS + record.watermark)
            elif record.op == "delete":
                feed.delete(record.user_id, record.t)
            else:
                feed.upsert(record.user_id, record.t, record.country, record.age)
        all_records = list(records)
        if end:
            feed.end()
            all_records.append(Tick(END_OF_INPUT_MS - BASE_MS))
        expected_tables(connection, config)
        want = reference(all_records, config)
        for table in EXPECTED_TABLES:
            assert Counter(rows(connection, table)) == want[table], table
    finally:
        connection.close()


# --- diff report ---------------------------------------------------------------------------


def _fill_results_from_oracle(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> None:
    """Make the result tables exactly what the oracle expects (late_events with a dummy raw)."""
    for table, expected in expected_tables(con, config).items():
        con.execute(f"DELETE FROM {table}")  # noqa: S608 -- test, constant names
        if table == "late_events":
            con.execute(
                f"INSERT INTO late_events SELECT view, window_start, 'raw', seq FROM {expected}"  # noqa: S608
            )
        else:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {expected}")  # noqa: S608


def test_compare_reports_ok_then_missing_and_unexpected_rows(
    con: duckdb.DuckDBPyConnection,
) -> None:
    config = WindowConfig(
        lateness_ms=0,
        tumbling_ms=10 * S,
        hopping_size_ms=10 * S,
        hopping_step_ms=2 * S,
        country_ms=10 * S,
    )
    feed = Input(con)
    feed.upsert(1, 0, "FR", 30)
    feed.upsert(2, 0, "DE", 41)
    feed.pv(1, 1 * S)
    feed.pv(2, 12 * S)
    feed.pv(1, 3 * S)  # late for the [0,10) windows and all its 5 hopping windows
    feed.end()
    _fill_results_from_oracle(con, config)
    diffs = compare(con, config)
    assert [d.table for d in diffs] == list(EXPECTED_TABLES)
    assert all(d.ok for d in diffs), format_diffs(diffs)
    assert format_diffs(diffs).endswith("all tables match")

    # Float noise in average_age is tolerated; a wrong count, a duplicate and a lost row are not.
    con.execute("UPDATE pageview_country SET average_age = average_age + 1e-12")
    con.execute("UPDATE pageview_tumbling SET pageview_count = 7 WHERE source = 'Homepage'")
    con.execute("INSERT INTO cleaned_users SELECT * FROM cleaned_users WHERE user_id = 1")
    con.execute("DELETE FROM late_events WHERE view = 'pageview_hopping'")
    by_table = {d.table: d for d in compare(con, config)}
    assert by_table["pageview_country"].ok
    tumbling = by_table["pageview_tumbling"]
    assert (tumbling.missing, tumbling.unexpected) == (2, 2)
    assert sum(row.startswith("- ") for row in tumbling.sample) == 2
    assert any("pageview_count=7" in row for row in tumbling.sample)
    assert (by_table["cleaned_users"].missing, by_table["cleaned_users"].unexpected) == (0, 1)
    assert by_table["late_events"].missing == 5
    assert len(by_table["late_events"].sample) == 5  # at most 5 each way
    report = format_diffs(list(by_table.values()))
    assert "pageview_tumbling" in report and "MISMATCH: 2 missing" in report
    assert report.endswith(f"3 of {len(EXPECTED_TABLES)} tables differ")


# --- speed ---------------------------------------------------------------------------------


def test_one_million_page_views_well_under_a_minute(con: duckdb.DuckDBPyConnection) -> None:
    """1 M page views (plus users, logins and the END tick), out of order, on one thread."""
    con.execute("SET threads = 1")
    total = 1_050_000
    # Arrival i: every 50th a user version, every 100th (offset 1) a login, else a page view.
    # Event times advance 50 ms per arrival with up to 40 s of disorder; ~0.5% are 2 min late.
    con.execute(
        """
        CREATE TEMP TABLE arrivals AS
        SELECT i AS seq,
               CASE WHEN i % 50 = 0 THEN 'user' WHEN i % 100 = 1 THEN 'login' ELSE 'pv' END
                   AS kind,
               $base + i * 50 - (hash(i) % 40000)::BIGINT
                   - CASE WHEN hash(i + 1) % 200 = 0 THEN 120000 ELSE 0 END AS t,
               (hash(i + 2) % 20000)::BIGINT AS user_id
        FROM range($total) AS r(i)
        """,
        {"base": BASE_MS, "total": total},
    )
    con.execute(
        """
        INSERT INTO raw_pageviews
        SELECT seq, 's', user_id, ['Homepage', 'Inbox', 'External'][1 + seq % 3], t
        FROM arrivals WHERE kind = 'pv'
        """
    )
    con.execute(
        """
        INSERT INTO raw_usersessions
        SELECT seq, 's', user_id, 'n', t, 'Mobile' FROM arrivals WHERE kind = 'login'
        """
    )
    con.execute(
        """
        INSERT INTO raw_users
        SELECT seq, CASE WHEN seq % 7 = 0 THEN 'delete' ELSE 'upsert' END, user_id % 10000,
               CASE WHEN seq % 11 = 0 THEN NULL ELSE 18 + seq % 60 END, 'f',
               ['FR', 'DE', 'US', 'IN'][1 + seq % 4], 'Gold', t
        FROM arrivals WHERE kind = 'user'
        """
    )
    con.execute("INSERT INTO raw_ticks VALUES (?, ?)", [total, END_OF_INPUT_MS])
    count_row = con.execute("SELECT count(*) FROM raw_pageviews").fetchone()
    assert count_row is not None and count_row[0] >= 1_000_000

    started = time.perf_counter()
    expected_tables(con, WindowConfig())
    elapsed_s = time.perf_counter() - started
    print(f"oracle on {count_row[0]} page views: {elapsed_s:.1f} s")
    assert elapsed_s < 30

    # Every page view is counted or late, once per tumbling window and 5 times for hopping.
    for view, windows in (("pageview_tumbling", 1), ("pageview_hopping", 5)):
        counted = con.execute(
            f"SELECT sum(pageview_count) FROM expected_{view}"  # noqa: S608
        ).fetchone()
        late_row = con.execute(
            "SELECT count(*) FROM expected_late_events WHERE view = ?", [view]
        ).fetchone()
        assert counted is not None and late_row is not None
        assert counted[0] + late_row[0] == windows * count_row[0]
        assert late_row[0] > 0
    final_row = con.execute("SELECT bool_and(is_final) FROM expected_pageview_country").fetchone()
    assert final_row == (True,)
