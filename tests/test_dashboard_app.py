"""The dashboard with streamlit.testing.v1.AppTest: the numbers it shows, with data and empty."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pageviews.dashboard import launcher
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.inputs import InputSpec
from pageviews.store.duckdb_store import DB_FILE

APP = str(launcher.APP)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dash")
    run_pipeline(RunOptions(input=InputSpec("generator", seed=3, events=30_000), data_dir=path))
    return path


def _app(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> AppTest:
    monkeypatch.setenv("PAGEVIEWS_DATA_DIR", str(data_dir))
    app = AppTest.from_file(APP, default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    return app


def _expected(data_dir: Path) -> dict[str, object]:
    """The KPI values, computed here with plain SQL, independently of dashboard/queries.py."""
    con = duckdb.connect(str(data_dir / DB_FILE), read_only=True)
    last, previous = con.execute(
        "SELECT window_start, sum(pageview_count) FROM pageview_tumbling WHERE is_final "
        "GROUP BY ALL ORDER BY window_start DESC LIMIT 2"
    ).fetchall()
    top_source = con.execute(
        "SELECT source FROM pageview_tumbling WHERE window_start = ? "
        "ORDER BY pageview_count DESC, source LIMIT 1",
        [last[0]],
    ).fetchone()
    top_country = con.execute(
        "SELECT country FROM pageview_country WHERE window_start = ? AND country <> 'unknown' "
        "ORDER BY pageview_count DESC, country LIMIT 1",
        [last[0]],
    ).fetchone()
    users = con.execute(
        "SELECT sum(user_count) FROM pageview_country WHERE is_final AND window_start = ?",
        [last[0]],
    ).fetchone()
    dead = con.execute("SELECT count(*) FROM dead_letters").fetchone()
    latest_reason = con.execute(
        "SELECT reason FROM dead_letters ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    con.close()
    assert top_source and top_country and users and dead and latest_reason
    return {
        "views": f"{int(last[1]):,}",
        "views_delta": int(last[1]) - int(previous[1]),
        "users": f"{int(users[0]):,}",
        "top_source": top_source[0],
        "top_country": top_country[0],
        "dead_letters": f"{int(dead[0]):,}",
        "latest_reason": latest_reason[0],
    }


def test_kpis_and_health_show_the_stored_numbers(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    app = _app(monkeypatch, data_dir)
    expected = _expected(data_dir)
    metrics = {metric.label: metric for metric in app.metric}
    assert metrics["Page views, last complete window"].value == expected["views"]
    assert int(metrics["Page views, last complete window"].delta) == expected["views_delta"]
    assert metrics["Active users"].value == expected["users"]
    assert metrics["Top source"].value == expected["top_source"]
    assert metrics["Top country"].value == expected["top_country"]
    assert metrics["Dead letters"].value == expected["dead_letters"]
    assert metrics["Watermark (UTC)"].value == "+inf"  # a replay ends with W = +inf
    # The latest dead letters table lists reasons, newest first.
    [dead_letters] = [frame.value for frame in app.dataframe if "reason" in frame.value.columns]
    assert dead_letters["reason"].iloc[0] == expected["latest_reason"]


def test_empty_data_dir_shows_no_data_yet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    app = _app(monkeypatch, tmp_path / "nothing-here")
    assert any("No data yet" in info.value for info in app.info)
    assert not app.metric


def test_refresh_can_be_turned_off(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    app = _app(monkeypatch, data_dir)
    app.sidebar.toggle[0].set_value(False).run()
    assert not app.exception
    assert app.metric  # still renders, just without the timer
