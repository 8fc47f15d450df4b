"""The pipeline's read-only query endpoint, and the stores that readers use.

The endpoint is private (a token in an owner-only endpoint.json), read-only by an allowlist
(store/readonly.py), and bounded (a statement timeout; stopping interrupts queries in flight).
"""

from __future__ import annotations

import json
import os
import stat
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pageviews.errors import ConfigError, StoreError
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.inputs import InputSpec
from pageviews.store.clients import DuckDBFileStore, HttpStore, open_store
from pageviews.store.duckdb_store import connect
from pageviews.store.readonly import check_allowed
from pageviews.store.schema import QUERYABLE
from pageviews.store.server import ENDPOINT_FILE, QueryServer, write_private


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("served")
    run_pipeline(RunOptions(input=InputSpec("generator", seed=8, events=5_000), data_dir=path))
    return path


@pytest.fixture
def served(data_dir: Path) -> Iterator[QueryServer]:
    con = connect(data_dir)
    server = QueryServer(con, data_dir, timeout_s=1.0)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        con.close()


SQL = (
    "SELECT window_start, source, pageview_count FROM pageview_tumbling WHERE source = ? ORDER BY 1"
)
# Minutes of work on any data (2.7e10 rows), in constant memory: only a timeout ends it.
SLOW_SQL = (
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3000) "
    "SELECT sum(hash(a.n, b.n, c.n) % 7) FROM r AS a, r AS b, r AS c"
)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our server
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _bearer(server: QueryServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


# --- read-only is an allowlist ------------------------------------------------------------

ALLOWED = [
    "SELECT * FROM pageview_tumbling",
    "select * from main.PAGEVIEW_TUMBLING t join raw_pageviews r on true",
    "FROM raw_ticks",
    "SELECT * FROM pipeline_status",
    "SELECT (SELECT count(*) FROM late_events), ?",
    "SELECT 1 UNION ALL SELECT count(*) FROM raw_users",
    "WITH a AS (SELECT * FROM dead_letters) SELECT * FROM a",
    "WITH a AS (SELECT 1) SELECT * FROM a, (WITH b AS (SELECT * FROM a) SELECT * FROM b)",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) FROM r",
    "VALUES (1), (2)",
    "SELECT INTERVAL 1 DAY, current_setting('TimeZone')",
]

REFUSED = {
    "SELECT * FROM checkpoint()": "checkpoint()",
    "SELECT * FROM force_checkpoint()": "force_checkpoint()",
    "SELECT * FROM read_csv('/etc/hostname')": "read_csv()",
    "SELECT * FROM read_parquet('x.parquet')": "read_parquet()",
    "SELECT * FROM dead_letters WHERE raw IN (SELECT * FROM glob('*'))": "glob()",
    "FROM range(3)": "range()",
    "SELECT * FROM duckdb_settings()": "duckdb_settings()",
    "SELECT * FROM query('SELECT 1')": "query()",
    "SELECT * FROM pageview_tumbling, LATERAL (SELECT * FROM read_text('x'))": "read_text()",
    "FROM '/etc/hostname'": "/etc/hostname",
    "SELECT * FROM state_meta": "state_meta",
    "SELECT * FROM duckdb_tables": "duckdb_tables",
    "SELECT * FROM information_schema.tables": "information_schema.tables",
    "SELECT * FROM system.main.duckdb_settings": "system.main.duckdb_settings",
    "SELECT * FROM pageviews.main.dead_letters": "pageviews.main.dead_letters",
    "SELECT * FROM dead_letters AT (VERSION => 1)": "dead_letters",
    # A CTE is not a way in: inside its own body, or outside its scope, the name is the table.
    "WITH state_meta AS (SELECT * FROM state_meta) SELECT * FROM state_meta": "state_meta",
    "SELECT * FROM (WITH state_meta AS (SELECT 1) FROM state_meta), state_meta": "state_meta",
    "WITH d AS (DELETE FROM dead_letters RETURNING *) SELECT * FROM d": "DELETE_QUERY_NODE",
    "DESCRIBE dead_letters": "SHOW_REF",
    "SUMMARIZE dead_letters": "SHOW_REF",
    "SHOW TABLES": "SHOW_REF",
    "PRAGMA database_size": "PRAGMA",
    "SET threads = 1": "SET",
    "ATTACH 'other.duckdb'": "ATTACH",
    "COPY dead_letters TO 'out.csv'": "COPY",
    "EXPORT DATABASE 'out'": "EXPORT",
    "INSTALL httpfs": "LOAD",
    "LOAD httpfs": "LOAD",
    "CALL checkpoint()": "CALL",
    "CHECKPOINT": "",
    "EXPLAIN ANALYZE DELETE FROM pageview_tumbling": "EXPLAIN",
    "DELETE FROM pageview_tumbling": "DELETE",
    "SELECT 1; SELECT 2": "2 statements",
}


@pytest.mark.parametrize("sql", ALLOWED)
def test_allowed_queries(sql: str) -> None:
    check_allowed(sql)


@pytest.mark.parametrize(("sql", "named"), REFUSED.items())
def test_refused_queries(sql: str, named: str) -> None:
    with pytest.raises(StoreError, match="query refused|query failed: no table") as refused:
        check_allowed(sql)
    assert named in str(refused.value)


def test_queryable_is_every_relation_but_the_engine_state(tmp_path: Path) -> None:
    con = connect(tmp_path)
    try:
        tables = con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    finally:
        con.close()
    relations = {name for (name,) in tables + views}
    assert set(QUERYABLE) == {name for name in relations if not name.startswith("state_")}


def test_the_file_store_refuses_like_the_endpoint(data_dir: Path) -> None:
    with pytest.raises(StoreError, match=r"refused.*checkpoint\(\)"):
        DuckDBFileStore(data_dir).query("SELECT * FROM checkpoint()")
    with pytest.raises(StoreError, match=r"no table or view state_meta here; a query may read"):
        DuckDBFileStore(data_dir).query("SELECT * FROM state_meta")


def test_the_endpoint_refuses_checkpoint(data_dir: Path, served: QueryServer) -> None:
    store = open_store(data_dir)
    assert isinstance(store, HttpStore)
    with pytest.raises(StoreError, match=r"refused.*checkpoint\(\)"):
        store.query("SELECT * FROM checkpoint()")


# --- the endpoint ---------------------------------------------------------------------------


def test_http_store_answers_like_the_file(data_dir: Path) -> None:
    expected = DuckDBFileStore(data_dir).query(SQL, ["Inbox"])
    con = connect(data_dir)
    server = QueryServer(con, data_dir)
    server.start()
    try:
        store = open_store(data_dir)
        assert isinstance(store, HttpStore)
        assert store.query(SQL, ["Inbox"]) == expected  # timestamps come back typed
        with pytest.raises(StoreError, match="query refused"):
            store.query("DELETE FROM pageview_tumbling")
        with pytest.raises(StoreError, match="2 statements"):
            store.query("SELECT 1; SELECT 2")
        assert store.query(SQL, ["Inbox"]) == expected  # nothing was deleted
        # Values JSON has no type for come back as text; times are in UTC.
        [(interval, zone)] = store.query("SELECT INTERVAL 1 DAY, current_setting('TimeZone')").rows
        assert "1 day" in str(interval) and zone == "UTC"
        odd = urllib.request.Request(
            f"{server.url}/query", data=b"{}", headers={"Content-Length": "abc", **_bearer(server)}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(odd, timeout=5)  # noqa: S310 - our server
        assert refused.value.code == 400
        status, answer = _post(f"{server.url}/query", b"not json", _bearer(server))
        assert status == 400 and answer["error"].startswith("expected JSON")
    finally:
        server.stop()
        con.close()
    assert not (data_dir / ENDPOINT_FILE).exists()
    assert isinstance(open_store(data_dir), DuckDBFileStore)


def test_server_binds_loopback_only(data_dir: Path) -> None:
    con = connect(data_dir)
    server = QueryServer(con, data_dir)
    try:
        assert server.url.startswith("http://127.0.0.1:")
    finally:
        server.stop()
        con.close()


# --- private: a token in an owner-only file -------------------------------------------------


def test_endpoint_file_is_owner_only_and_holds_the_token(
    data_dir: Path, served: QueryServer
) -> None:
    endpoint = data_dir / ENDPOINT_FILE
    assert stat.S_IMODE(endpoint.stat().st_mode) == 0o600
    advertised = json.loads(endpoint.read_text())
    assert advertised["token"] == served.token and len(served.token) >= 32
    assert advertised["url"] == served.url
    assert [p.name for p in data_dir.iterdir() if p.name.startswith(".endpoint")] == []


def test_private_files_are_owner_only_from_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[int] = []
    real_open = os.open

    def watching_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        created.append(mode)
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", watching_open)
    old = os.umask(0)  # even when the process would create world-writable files
    try:
        write_private(tmp_path / "secret.json", "{}")
    finally:
        os.umask(old)
    assert created == [0o600]  # the file exists with no other mode, not even briefly
    assert stat.S_IMODE((tmp_path / "secret.json").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
    ],
)
def test_a_request_without_the_token_is_refused(
    served: QueryServer, headers: dict[str, str]
) -> None:
    body = json.dumps({"sql": "SELECT * FROM cleaned_users"}).encode()
    status, answer = _post(f"{served.url}/query", body, headers)
    assert status == 401 and set(answer) == {"error"}
    health = urllib.request.Request(f"{served.url}/health", headers=headers)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(health, timeout=5)  # noqa: S310 - our server
    assert refused.value.code == 401
    status, answer = _post(f"{served.url}/query", body, _bearer(served))
    assert status == 200 and answer["rows"]


def test_a_store_with_a_wrong_token_gets_no_data(served: QueryServer) -> None:
    store = HttpStore(served.url, "wrong")
    assert not store.alive()
    with pytest.raises(StoreError, match="token"):
        store.query("SELECT * FROM cleaned_users")


# --- bounded: the statement timeout ---------------------------------------------------------


def test_a_slow_query_is_interrupted_and_the_server_stays_healthy(
    data_dir: Path, served: QueryServer
) -> None:
    store = open_store(data_dir)
    assert isinstance(store, HttpStore)
    threads_before = threading.active_count()
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"stopped after 1 s .*PAGEVIEWS_QUERY_TIMEOUT_S"):
        store.query(SLOW_SQL)
    assert time.monotonic() - started < 5
    assert store.alive()
    assert store.query("SELECT count(*) FROM pageview_tumbling").rows[0][0] > 0
    deadline = time.monotonic() + 5
    while threading.active_count() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= threads_before  # no thread left behind


def test_the_file_store_has_the_same_timeout(data_dir: Path) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="stopped after 0.5 s"):
        DuckDBFileStore(data_dir, timeout_s=0.5).query(SLOW_SQL)
    assert time.monotonic() - started < 5


def test_the_timeout_comes_from_the_environment(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGEVIEWS_QUERY_TIMEOUT_S", "2.5")
    assert DuckDBFileStore(data_dir).timeout_s == 2.5
    monkeypatch.setenv("PAGEVIEWS_QUERY_TIMEOUT_S", "0")
    with pytest.raises(ConfigError, match="PAGEVIEWS_QUERY_TIMEOUT_S"):
        DuckDBFileStore(data_dir)


def test_stopping_interrupts_a_query_in_flight(data_dir: Path) -> None:
    con = connect(data_dir)
    server = QueryServer(con, data_dir, timeout_s=60.0)
    server.start()
    store = open_store(data_dir)
    assert isinstance(store, HttpStore)
    failures: list[BaseException] = []

    def slow() -> None:
        try:
            store.query(SLOW_SQL)
        except StoreError as error:
            failures.append(error)

    query = threading.Thread(target=slow)
    query.start()
    deadline = time.monotonic() + 10
    while not server._running and time.monotonic() < deadline:  # noqa: SLF001 - in flight
        time.sleep(0.01)
    time.sleep(0.2)
    started = time.monotonic()
    server.stop()
    con.close()  # no "connection is busy with another call"
    assert time.monotonic() - started < 5
    query.join(timeout=10)
    assert len(failures) == 1 and "the run is stopping" in str(failures[0])
