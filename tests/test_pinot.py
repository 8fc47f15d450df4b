"""Apache Pinot on the real stack: tables from the result topics, upserts, bad rows, the stores.

One module-scoped stack in its own directory, started and stopped by the same code as
`pageviews stack up/down`. Rows are produced in the handoff contract's format (keyed JSON) with
confluent_kafka. A service that cannot start fails these tests; nothing is skipped.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pytest
from confluent_kafka import Producer

from pageviews.dashboard import queries
from pageviews.errors import StoreError
from pageviews.model.results import RESULT_TABLES
from pageviews.stack import pinot_tables
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.services import manager, pinot
from pageviews.store.base import DUCKDB, QueryResult
from pageviews.store.pinot_copy import copy_table
from pageviews.store.pinot_store import PinotStore, render
from pageviews.store.readonly import run_read_only
from stack_helpers import running_stack

pytestmark = pytest.mark.timeout(1200)

MINUTE_MS = 60_000
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    with running_stack(tmp_path_factory, "pinot-stack") as config:
        yield config


@pytest.fixture(scope="module")
def store(stack: StackConfig) -> PinotStore:
    return PinotStore(
        f"http://{HOST}:{stack.pinot.broker_port}",
        controller_url=f"http://{HOST}:{stack.pinot.controller_port}",
    )


def _produce(config: StackConfig, table: str, rows: list[tuple[Any, bytes]]) -> None:
    """(key, value) pairs to the table's topic; a key is JSON-encoded, a value sent as is."""
    producer = Producer({"bootstrap.servers": config.bootstrap, "enable.idempotence": True})
    topic = config.topics.result(table)
    for key, value in rows:
        producer.produce(topic, key=None if key is None else orjson.dumps(key), value=value)
    assert producer.flush(30) == 0


def _window_row(source: str, window_start: int, count: int, final: bool) -> tuple[Any, bytes]:
    key = {"source": source, "window_start": window_start}
    value = key | {
        "window_end": window_start + MINUTE_MS,
        "pageview_count": count,
        "user_count": count // 2,
        "is_final": final,
    }
    return key, orjson.dumps(value)


def _wait_for(probe: Callable[[], Any], done: Callable[[Any], bool], timeout_s: float = 60) -> Any:
    """Poll `probe` until `done(result)`; return the last result either way."""
    deadline = time.monotonic() + timeout_s
    result = probe()
    while not done(result) and time.monotonic() < deadline:
        time.sleep(0.5)
        result = probe()
    return result


def test_up_brings_pinot_healthy_with_every_table(stack: StackConfig) -> None:
    reports = {r.name: r for r in manager.status(stack)}
    for name in pinot.NAMES:
        assert reports[name].healthy, reports[name]
        assert (reports[name].rss_mb or 0) > 50
    assert reports["pinot-controller"].detail == f"{len(RESULT_TABLES)} tables"
    assert set(pinot_tables.table_names(stack)) == {t.name for t in RESULT_TABLES}
    ports = manager.status_json(stack)["ports"]
    assert ports["pinot-controller"] == stack.pinot.controller_port
    assert ports["pinot-broker"] == stack.pinot.broker_port
    # Idempotent: the tables exist as generated, so a second pass changes nothing.
    assert set(pinot_tables.ensure_tables(stack).values()) == {"unchanged"}
    # A table changed behind our back is put back as generated.
    session = next(t for t in RESULT_TABLES if t.name == "pageview_session")
    changed = pinot_tables.table_config(stack, session)
    changed["tableIndexConfig"]["streamConfigs"]["realtime.segment.flush.threshold.rows"] = "123"
    pinot_tables.controller(stack, "PUT", "/tables/pageview_session", changed)
    actions = pinot_tables.ensure_tables(stack)
    assert actions["pageview_session"] == "updated"
    assert set(actions.values()) == {"updated", "unchanged"}
    assert set(pinot_tables.ensure_tables(stack).values()) == {"unchanged"}


def test_upserts_show_one_latest_row_per_key(stack: StackConfig, store: PinotStore) -> None:
    tag = f"up-{uuid.uuid4().hex[:8]}"
    sources = [f"{tag}-{i}" for i in range(20)]
    windows = [BASE_MS + w * MINUTE_MS for w in range(3)]
    versions = 5
    rows = []
    # Every key is updated `versions` times, the updates of all keys interleaved.
    for version in range(1, versions + 1):
        for i, source in enumerate(sources):
            for w, start in enumerate(windows):
                rows.append(_window_row(source, start, version * 100 + i + w, version == versions))
    _produce(stack, "pageview_tumbling", rows)
    latest_sum = sum(versions * 100 + i + w for i in range(len(sources)) for w in range(3))
    keys = len(sources) * len(windows)

    def probe() -> tuple[Any, ...]:
        # Filtering by the tag needs a string parameter, which PinotStore refuses: filter here.
        result = store.query(
            "SELECT source, window_start, pageview_count, is_final FROM pageview_tumbling "
            "WHERE window_start >= ? AND window_start <= ? LIMIT 100000",
            [windows[0], windows[-1]],
        )
        mine = [r for r in result.rows if str(r[0]).startswith(tag)]
        return (len(mine), sum(r[2] for r in mine), all(r[3] for r in mine))

    seen = _wait_for(probe, lambda r: r == (keys, latest_sum, True))
    assert seen == (keys, latest_sum, True)
    # Pinot's own aggregation agrees: no superseded version is counted.
    result = store.query(
        "SELECT source, count(*), sum(pageview_count) FROM pageview_tumbling "
        "WHERE window_start >= ? AND window_start <= ? GROUP BY source LIMIT 100000",
        [windows[0], windows[-1]],
    )
    mine = [r for r in result.rows if str(r[0]).startswith(tag)]
    assert len(mine) == len(sources)
    assert all(r[1] == len(windows) for r in mine)
    assert sum(r[2] for r in mine) == latest_sum


def test_malformed_rows_are_visible_and_do_not_stall(stack: StackConfig, store: PinotStore) -> None:
    tag = f"bad-{uuid.uuid4().hex[:8]}"
    before_decode = len(pinot.decode_errors(stack))
    start = BASE_MS + 10 * MINUTE_MS
    bad_type = {"source": tag, "window_start": start, "window_end": start + MINUTE_MS}
    bad_type |= {"pageview_count": "many", "user_count": 1, "is_final": True}
    # Same key for all three, so they share a partition: the good row comes after the bad ones.
    key = {"source": tag, "window_start": start}
    _produce(
        stack,
        "pageview_hopping",
        [
            (key, b"{not json at all"),
            (key, orjson.dumps(bad_type)),
            _window_row(tag, start, 7, True),
        ],
    )

    def probe() -> list[Any]:
        rows = store.query(
            "SELECT source, pageview_count FROM pageview_hopping WHERE window_start = ? LIMIT 1000",
            [start],
        ).rows
        return [r for r in rows if r[0] == tag]

    assert _wait_for(probe, lambda rows: bool(rows)) == [(tag, 7)]
    decode = pinot.decode_errors(stack)
    assert len(decode) == before_decode + 1
    assert "{not json at all" in decode[-1]
    errors = pinot_tables.segment_errors(stack, "pageview_hopping")
    assert any("transforming the record" in e for e in errors), errors
    server = next(r for r in manager.status(stack) if r.name == "pinot-server")
    assert f"undecodable rows logged: {before_decode + 1}" in server.detail
    assert "segments with errors: 0" not in server.detail


def test_store_returns_typed_rows_and_clear_errors(stack: StackConfig, store: PinotStore) -> None:
    tag = f"ty-{uuid.uuid4().hex[:8]}"
    start = BASE_MS + 20 * MINUTE_MS
    key = {"country": tag, "window_start": start}
    value = key | {"window_end": start + MINUTE_MS, "pageview_count": 3, "user_count": 2}
    _produce(
        stack,
        "pageview_country",
        [(key, orjson.dumps(value | {"average_age": None, "is_final": False}))],
    )
    sql = "SELECT * FROM pageview_country WHERE window_start = ? AND is_final = ? LIMIT 100"
    result = _wait_for(
        lambda: store.query(sql, [datetime.fromtimestamp(start / 1000, UTC), False]),
        lambda r: any(row["country"] == tag for row in r.records()),
    )
    row = next(r for r in result.records() if r["country"] == tag)
    assert row["average_age"] is None  # Pinot's null default, turned back into None
    assert row["pageview_count"] == 3 and isinstance(row["pageview_count"], int)
    assert row["is_final"] is False
    types = dict(zip(result.columns, result.types, strict=True))
    assert types["pageview_count"] == "BIGINT" and types["country"] == "VARCHAR"
    assert types["is_final"] == "BOOLEAN" and types["average_age"] == "DOUBLE"
    described = {row[0]: row[1:] for row in store.describe("cleaned_users").rows}
    assert described["age"] == ("INTEGER", False)
    assert described["user_id"] == ("BIGINT", True)
    assert described["deleted"] == ("BOOLEAN", False)

    with pytest.raises(StoreError, match="Unknown columnName"):
        store.query("SELECT no_such_column FROM pageview_country")
    # A string is one literal, its quotes doubled: it cannot end the literal early.
    injected = store.query(
        "SELECT count(*) FROM pageview_country WHERE country = ?", ["x' OR '1'='1"]
    )
    assert (
        injected.rows[0][0] == 0 < store.query("SELECT count(*) FROM pageview_country").rows[0][0]
    )
    with pytest.raises(StoreError, match="cannot be passed safely"):
        store.query("SELECT count(*) FROM pageview_country WHERE country = ?", ["a\nb"])
    free_port = stack.pinot.broker_port - 1
    with pytest.raises(StoreError, match="did not answer"):
        PinotStore(f"http://{HOST}:{free_port}", timeout_s=2).query("SELECT 1")


def test_store_renders_only_typed_values() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    sql = "SELECT '?' AS q, \"a?\" FROM t WHERE x = ? AND y > ? -- ?\nAND z = ?"
    assert render(sql, [when, 1.5, True]) == (
        "SELECT '?' AS q, \"a?\" FROM t WHERE x = 1767225600000 AND y > 1.5 -- ?\nAND z = true"
    )
    with pytest.raises(StoreError, match="time zone"):
        render("SELECT ?", [datetime(2026, 1, 1)])
    with pytest.raises(StoreError, match="1 parameters"):
        render("SELECT ?, ?", [1])
    with pytest.raises(StoreError, match="cannot be passed"):
        render("SELECT ?", [float("nan")])
    assert render("SELECT ? AS s", ["it's ?"]) == "SELECT 'it''s ?' AS s"
    for control in ("\n", "\x00", "\x7f"):
        with pytest.raises(StoreError, match="cannot be passed"):
            render("SELECT ?", [f"a{control}"])


class _DuckDBCopy:
    """Pinot's tables copied into DuckDB, answering the dashboard's DuckDB SQL."""

    description = "a DuckDB copy of Pinot's tables"
    dialect = DUCKDB

    def __init__(self, pinot: PinotStore) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        for table in RESULT_TABLES:
            copy_table(pinot, self.con, table)

    def query(self, sql: str, params: Any = ()) -> QueryResult:
        return run_read_only(self.con, sql, params)


def test_dashboard_queries_run_on_pinot(stack: StackConfig, store: PinotStore) -> None:
    # Windows later than any other test's, so they are the dashboard's "last complete" ones.
    first = BASE_MS + 365 * 24 * 60 * MINUTE_MS
    second = first + MINUTE_MS
    _produce(
        stack,
        "pageview_tumbling",
        [
            _window_row("Homepage", first, 10, True),
            _window_row("Search", first, 5, True),
            _window_row("Homepage", second, 3, False),  # an early firing, then the final one
            _window_row("Homepage", second, 12, True),
            _window_row("Search", second, 20, True),
        ],
    )
    user = {"user_id": 424242}
    deleted = {"user_id": 434343}
    user_row = {"age": None, "gender": "F", "country": "FR", "subscription": "Gold"}
    _produce(
        stack,
        "cleaned_users",
        [
            (user, orjson.dumps(user | user_row | {"updated_at": first, "deleted": False})),
            (deleted, orjson.dumps(deleted | user_row | {"updated_at": first, "deleted": False})),
            (deleted, orjson.dumps(deleted | user_row | {"updated_at": second, "deleted": True})),
        ],
    )
    pinot = PinotStore(store.broker_url, store.controller_url, datetimes=True)

    def tiles() -> list[queries.Kpi]:
        return queries.kpis(pinot)

    kpis = _wait_for(tiles, lambda k: bool(k) and k[0].value == 32)
    assert kpis[0].value == 32 and kpis[0].delta == 32 - 15
    assert kpis[2].value == "Search" and kpis[2].delta == 20 - 5
    users = _wait_for(
        lambda: (
            pinot.query(
                "SELECT user_id, age FROM cleaned_users "
                "WHERE user_id IN (?, ?) AND deleted = false",
                [424242, 434343],
            ).rows
        ),
        lambda rows: rows == [(424242, None)],
    )
    assert users == [(424242, None)]  # the deleted user is flagged
    since = datetime.fromtimestamp(first / 1000, UTC)
    rows = queries.window_rows(pinot, "pageview_tumbling", since)
    assert [(r["key"], r["pageview_count"]) for r in rows] == [
        ("Homepage", 10),
        ("Search", 5),
        ("Homepage", 12),
        ("Search", 20),
    ]
    assert rows[0]["window_start"] == since
    status = queries.status(pinot)
    assert status.watermark_at == datetime.fromtimestamp((second + MINUTE_MS) / 1000, UTC)
    assert status.newest_event_at == datetime.fromtimestamp(second / 1000, UTC)

    # Each query gives on Pinot what its DuckDB form gives over a copy of the same rows.
    copy = _DuckDBCopy(store)
    since = queries.chart_start(status, hours=24 * 400)
    assert queries.kpis(pinot) == queries.kpis(copy)
    for table in queries.CHARTED_TABLES:
        assert queries.window_rows(pinot, table, since) == queries.window_rows(copy, table, since)
    gap_s = status.user_session_gap_s
    sessions = queries.session_histograms(pinot, since, gap_s)
    assert sessions == queries.session_histograms(copy, since, gap_s)
    assert queries.health_counts(pinot) == queries.health_counts(copy)
    assert queries.refresh(pinot, hours=2.0) is not None


def test_down_up_keeps_tables_and_rows(stack: StackConfig, store: PinotStore) -> None:
    sql = "SELECT count(*), sum(pageview_count) FROM pageview_tumbling"
    before = store.query(sql).rows
    assert before[0][0] > 0
    manager.down(stack, say=lambda text: None)
    assert not any(svc.process() for svc in pinot.services(stack))
    with pytest.raises(StoreError, match="did not answer"):
        store.query(sql)
    manager.up(stack, say=lambda text: None)
    assert set(pinot_tables.table_names(stack)) == {t.name for t in RESULT_TABLES}
    # Consuming segments are read again from Kafka: the same rows, still one per key.
    after = _wait_for(lambda: store.query(sql).rows, lambda rows: rows == before, timeout_s=90)
    assert after == before
