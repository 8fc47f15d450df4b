"""The whole distributed runtime on the generator's default data: late page views, user changes
out of order, bad lines.

generator -> Kafka (page views, sessions) and MariaDB -> Debezium (users) -> Flink -> Pinot,
run by `run_on_stack` as `pageviews run --backend stack` does. Then `pageviews check --backend
stack` must pass: every table recomputed by the Flink job's rules, with its late rows held to
what each partition allows. Which page views are late differs from the embedded engine on such
data (docs/semantics.md, section 12); tests/test_flink.py compares the two runtimes row for row
on a replay without late page views. Real services, started here; a service that cannot start
fails the test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from streamlit.testing.v1 import AppTest

from helpers import pageviews
from pageviews.check.served import check_stack
from pageviews.config import WindowConfig
from pageviews.dashboard import launcher
from pageviews.model.records import MAX_LINE_BYTES
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.generator import GeneratorConfig, generate_lines
from pageviews.sources.inputs import InputSpec
from pageviews.stack import flink_job, readback
from pageviews.stack.config import StackConfig
from pageviews.stack.pinot_sync import pinot_store
from pageviews.stack.readback import input_records
from pageviews.stack.run import run_on_stack
from pageviews.store.clients import DuckDBFileStore
from pageviews.validation.record import InvalidRecord, timestamp_ms, validate_line
from stack_helpers import running_stack

pytestmark = pytest.mark.timeout(1500)

# The generator's defaults (late page views, out-of-order user changes, bad lines), fewer events.
GENERATOR = GeneratorConfig(seed=11, events=20_000, users=100)
WINDOWS = WindowConfig()
WINDOW_TABLES = (
    "pageview_country",
    "pageview_tumbling",
    "pageview_hopping",
    "pageview_session",
    "user_sessions",
    "sessions_by_device",
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    with running_stack(tmp_path_factory, "e2e-stack") as config:
        yield config


@pytest.fixture(scope="module")
def replay(stack: StackConfig, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same input through both runtimes; the embedded results stay in a data dir."""
    tmp = tmp_path_factory.mktemp("e2e")
    source = tmp / "input.jsonl"
    lines = list(generate_lines(GENERATOR))
    source.write_text("\n".join(lines) + "\n")
    spec = InputSpec("file", path=str(source))
    report = run_on_stack(stack, spec, WINDOWS, rate=None, say=lambda text: None)
    embedded = tmp / "embedded"
    run_pipeline(RunOptions(input=spec, data_dir=embedded, config=WINDOWS))
    return {"lines": lines, "report": report, "embedded": embedded, "tmp": tmp}


def test_cleaned_users_in_pinot_equal_the_embedded_ones_and_every_window_is_final(
    stack: StackConfig, replay: dict[str, Any]
) -> None:
    # No lateness decides cleaned_users: it is the latest version by updated_at on both sides.
    pinot = pinot_store(stack, datetimes=True)
    columns = "user_id, age, gender, country, subscription, updated_at"
    embedded = DuckDBFileStore(replay["embedded"]).query(f"SELECT {columns} FROM cleaned_users")  # noqa: S608
    served = pinot.query(
        f"SELECT {columns} FROM cleaned_users WHERE deleted = false LIMIT 100000"  # noqa: S608
    )
    assert Counter(served.rows) == Counter(embedded.rows) and len(embedded.rows) > 50
    # A replay ends with W = +inf: every window final.
    for table in WINDOW_TABLES:
        total = pinot.query(f"SELECT count(*) FROM {table}").rows[0][0]  # noqa: S608
        open_rows = pinot.query(f"SELECT count(*) FROM {table} WHERE is_final = false")  # noqa: S608
        assert total > 0 and open_rows.rows[0][0] == 0, table


def test_pinot_holds_one_row_per_key_and_window(stack: StackConfig, replay: dict[str, Any]) -> None:
    pinot = pinot_store(stack)
    report = replay["report"]
    for table, key in (
        ("pageview_tumbling", "source, window_start"),
        ("pageview_hopping", "source, window_start"),
        ("pageview_country", "country, window_start"),
        ("user_sessions", "user_id, window_start"),
    ):
        total = pinot.query(f"SELECT COUNT(*) FROM {table}").rows[0][0]  # noqa: S608 - constant
        keys = pinot.query(
            f"SELECT {key}, COUNT(*) FROM {table} GROUP BY {key} LIMIT 100000"  # noqa: S608
        ).rows
        assert total == len(keys) == report.served_rows[table] > 0, table
        assert all(row[-1] == 1 for row in keys), table
    # Every page view the producer accepted is counted once in the tumbling windows, or is a
    # late event there.
    counted = pinot.query("SELECT SUM(pageview_count) FROM pageview_tumbling").rows[0][0]
    late = pinot.query("SELECT COUNT(*) FROM late_events WHERE view = 'pageview_tumbling'").rows[0][
        0
    ]
    accepted = [line for line in replay["lines"] if _refusal(line) is None]
    pageviews_sent = sum(1 for line in accepted if orjson.loads(line)["type"] == "pageview")
    assert counted + late == pageviews_sent > 0


def _refusal(line: str) -> str | None:
    """Why the stack's producer refuses a line (see produce.write_lines), or None."""
    try:
        validate_line(line)
    except InvalidRecord as error:
        return str(error)
    return None


def test_refused_lines_are_dead_letters_in_pinot(
    stack: StackConfig, replay: dict[str, Any]
) -> None:
    # The producer validates with the model's documented formats; the embedded parser also
    # takes a few other timestamp shapes (docs/semantics.md, sections 1 and 12), so the
    # refused lines are the producer's.
    refused = Counter(
        (line[:MAX_LINE_BYTES], reason)
        for line in replay["lines"]
        if (reason := _refusal(line)) is not None
    )
    assert sum(refused.values()) >= 10
    pinot = pinot_store(stack)
    served = Counter(pinot.query("SELECT raw, reason FROM dead_letters LIMIT 100000").rows)
    assert served == refused


def test_check_recomputes_pinot_from_kafka_on_default_data(
    stack: StackConfig, replay: dict[str, Any]
) -> None:
    # The hard parts are in the input: page views the job found late, and user changes older
    # than one of the same user before them (which the job's join drops).
    late = pinot_store(stack).query(
        "SELECT COUNT(*) FROM late_events WHERE view = 'pageview_tumbling'"
    )
    assert late.rows[0][0] > 0
    assert _out_of_order_user_changes(replay["lines"]) > 0

    report, ok = check_stack(input_records(stack), pinot_store(stack), WINDOWS, replay["tmp"] / "c")
    assert ok, report
    assert "all tables match" in report
    assert report.count("  OK") == 8 + len(WINDOW_TABLES), report


def _out_of_order_user_changes(lines: list[str]) -> int:
    newest: dict[int, int] = {}
    older = 0
    for line in lines:
        if _refusal(line) is not None or (record := orjson.loads(line))["type"] != "user":
            continue
        ms = timestamp_ms(record["updated_at"])
        assert ms is not None
        older += ms < newest.get(record["user_id"], ms)
        newest[record["user_id"]] = max(ms, newest.get(record["user_id"], ms))
    return older


def test_cli_check_and_query_read_the_stack(stack: StackConfig, replay: dict[str, Any]) -> None:
    stack_dir = ["--backend", "stack", "--stack-dir", str(stack.stack_dir)]
    check = pageviews("check", *stack_dir, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "all tables match" in check.stdout
    query = pageviews(
        "query", "SELECT sum(pageview_count) AS n FROM pageview_tumbling", "--format", "json",
        *stack_dir,
    )  # fmt: skip
    # Pinot answers, in its own SQL: every valid page view is counted or late.
    served = json.loads(query.stdout)[0]["n"]
    late = pinot_store(stack).query(
        "SELECT count(*) FROM late_events WHERE view = 'pageview_tumbling'"
    )
    valid = sum(
        1
        for line in replay["lines"]
        if _refusal(line) is None and orjson.loads(line)["type"] == "pageview"
    )
    assert served + late.rows[0][0] == valid > 0
    # What Pinot cannot answer is one clear line (epoch() is DuckDB's, not Pinot's).
    refused = pageviews(
        "query", "SELECT epoch(window_start) FROM pageview_tumbling", *stack_dir, check=False
    )
    assert refused.returncode != 0
    assert refused.stderr.startswith("pageviews: error: Pinot query failed")
    assert refused.stderr.count("\n") == 1, refused.stderr


def test_stack_dir_of_the_run_records_the_job(stack: StackConfig, replay: dict[str, Any]) -> None:
    job = json.loads(Path(stack.stack_dir / "flink-job.json").read_text())
    assert job["job_id"] == replay["report"].job_id
    assert job["bounded"] is True
    assert WindowConfig(**job["windows"]) == WINDOWS


def test_replay_then_live_at_the_default_rate_leaves_a_dashboard_that_keeps_up(
    stack: StackConfig, replay: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's stack section in order: after the replay (the fixture), a live run at the
    default rate. The live job reads the topics from their start, so it counts the replay
    again, then the live page views; every page view must be counted or late soon after the
    producer stops, and the dashboard must show it from Pinot."""
    pinot = pinot_store(stack)
    late_sql = "SELECT count(*) FROM late_events WHERE view = 'pageview_tumbling'"
    late_before = int(pinot.query(late_sql).rows[0][0])
    live = subprocess.Popen(
        [sys.executable, "-m", "pageviews.cli", "run", "--backend", "stack", "--no-dashboard",
         "--seed", "12", "--stack-dir", str(stack.stack_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        time.sleep(45)
        live.send_signal(signal.SIGINT)
        output, _ = live.communicate(timeout=120)
    finally:
        live.kill()
    assert live.returncode == 0, output
    job = json.loads(Path(stack.stack_dir / "flink-job.json").read_text())
    assert job["bounded"] is False
    try:
        # The producer writes only valid page views to the topic (the rest are dead letters).
        valid = readback.record_count(stack, stack.topics.pageviews)
        replayed = sum(
            1
            for line in replay["lines"]
            if _refusal(line) is None and orjson.loads(line)["type"] == "pageview"
        )
        assert valid - replayed > 10_000  # the live run's page views, at ~900/s

        def counted_or_late() -> int:
            counted = pinot.query("SELECT sum(pageview_count) FROM pageview_tumbling").rows[0][0]
            return int(counted) + int(pinot.query(late_sql).rows[0][0]) - late_before

        deadline = time.monotonic() + 60
        while (total := counted_or_late()) != valid and time.monotonic() < deadline:
            time.sleep(2)
        assert total == valid

        monkeypatch.setenv("PAGEVIEWS_PINOT_BROKER_URL", pinot.broker_url)
        monkeypatch.setenv("PAGEVIEWS_PINOT_CONTROLLER_URL", str(pinot.controller_url))
        app = AppTest.from_file(str(launcher.APP), default_timeout=60)
        app.run()
        assert not app.exception, app.exception
        assert not app.warning, [w.value for w in app.warning]
        metrics = {m.label: m.value for m in app.metric}
        assert metrics["Late events"] != "0" and metrics["Freshness"] != "n/a", metrics
        assert int(str(metrics["Page views, last complete window"]).replace(",", "")) > 0
    finally:
        flink_job.cancel_job(stack, job["job_id"])
