"""The pipeline's read-only query endpoint, and the stores that readers use."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from pageviews.errors import StoreError
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.inputs import InputSpec
from pageviews.store.clients import DuckDBFileStore, HttpStore, open_store
from pageviews.store.duckdb_store import connect
from pageviews.store.server import ENDPOINT_FILE, QueryServer


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("served")
    run_pipeline(RunOptions(input=InputSpec("generator", seed=8, events=5_000), data_dir=path))
    return path


SQL = (
    "SELECT window_start, source, pageview_count FROM pageview_tumbling WHERE source = ? ORDER BY 1"
)


def test_http_store_answers_like_the_file(data_dir: Path) -> None:
    expected = DuckDBFileStore(data_dir).query(SQL, ["Inbox"])
    con = connect(data_dir)
    server = QueryServer(con, data_dir)
    server.start()
    try:
        store = open_store(data_dir)
        assert isinstance(store, HttpStore)
        assert store.query(SQL, ["Inbox"]) == expected  # timestamps come back typed
        with pytest.raises(StoreError, match="only read-only SELECT"):
            store.query("DELETE FROM pageview_tumbling")
        with pytest.raises(StoreError, match="expected one statement"):
            store.query("SELECT 1; SELECT 2")
        with pytest.raises(StoreError, match="Permission|external"):
            store.query("SELECT * FROM read_csv('/etc/hostname')")
        # A write hidden in a SELECT, or in EXPLAIN ANALYZE, is refused too.
        with pytest.raises(StoreError, match="read-only|only read-only"):
            store.query(
                "WITH d AS (DELETE FROM pageview_tumbling RETURNING *) SELECT count(*) FROM d"
            )
        with pytest.raises(StoreError, match="only read-only"):
            store.query("EXPLAIN ANALYZE DELETE FROM pageview_tumbling")
        assert store.query(SQL, ["Inbox"]) == expected  # nothing was deleted
        # Values JSON has no type for come back as text; times are in UTC.
        [(interval, zone)] = store.query("SELECT INTERVAL 1 DAY, current_setting('TimeZone')").rows
        assert "1 day" in str(interval) and zone == "UTC"
        odd = urllib.request.Request(
            f"{server.url}/query", data=b"{}", headers={"Content-Length": "abc"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(odd, timeout=5)
        assert refused.value.code == 400
        bad = urllib.request.Request(f"{server.url}/query", data=b"not json")
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(bad, timeout=5)
        assert error.value.code == 400
        assert json.loads(error.value.read())["error"].startswith("expected JSON")
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
