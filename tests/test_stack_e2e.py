"""The whole distributed runtime against the embedded one, on the same seeded input.

generator -> Kafka (page views, sessions) and MariaDB -> Debezium (users) -> Flink -> Pinot,
run by `run_on_stack` as `pageviews run --backend stack` does; then every result table read
from Pinot must equal the embedded engine's, and `pageviews check --backend stack` must pass.
Real services, started here; a service that cannot start fails the test.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from helpers import pageviews
from pageviews.check.served import check_served
from pageviews.config import WindowConfig
from pageviews.model.records import MAX_LINE_BYTES
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.generator import GeneratorConfig, generate_lines
from pageviews.sources.inputs import InputSpec
from pageviews.stack.config import StackConfig
from pageviews.stack.pinot_sync import pinot_store
from pageviews.stack.readback import arrival_lines
from pageviews.stack.run import run_on_stack
from pageviews.store.clients import DuckDBFileStore
from pageviews.store.pinot_snapshot import PinotSnapshotStore
from pageviews.validation.record import InvalidRecord, validate_line
from stack_helpers import SHORT_WINDOWS as WINDOWS
from stack_helpers import in_order_user_changes, running_stack

pytestmark = pytest.mark.timeout(1500)

# Disorder within the lateness and no late page views: every window is decided the same way by
# both runtimes (docs/semantics.md, section 12). Malformed lines are kept: dead letters.
GENERATOR = GeneratorConfig(
    seed=11, events=4_000, users=40, lateness_ms=2_000, late_fraction=0.0, malformed_fraction=0.01
)
WINDOW_TABLES = (
    "cleaned_users",
    "pageview_country",
    "pageview_tumbling",
    "pageview_hopping",
    "pageview_session",
    "user_sessions",
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
    lines = in_order_user_changes(generate_lines(GENERATOR))
    source.write_text("\n".join(lines) + "\n")
    spec = InputSpec("file", path=str(source))
    report = run_on_stack(stack, spec, WINDOWS, rate=None, say=lambda text: None)
    embedded = tmp / "embedded"
    run_pipeline(RunOptions(input=spec, data_dir=embedded, config=WINDOWS))
    return {"lines": lines, "report": report, "embedded": embedded, "tmp": tmp}


def _rows(store: Any, table: str) -> Counter[tuple[Any, ...]]:
    result = store.query(f"SELECT * FROM {table}")  # noqa: S608 - a constant table name
    return Counter(
        tuple(round(v, 9) if isinstance(v, float) else v for v in row) for row in result.rows
    )


def test_every_result_table_in_pinot_equals_the_embedded_one(
    stack: StackConfig, replay: dict[str, Any]
) -> None:
    pinot = PinotSnapshotStore(pinot_store(stack))
    embedded = DuckDBFileStore(replay["embedded"])
    for table in WINDOW_TABLES:
        expected, served = _rows(embedded, table), _rows(pinot, table)
        assert expected, f"{table}: the embedded run produced no rows; the input is too small"
        assert served == expected, (
            f"{table}: missing {list((expected - served).items())[:3]}, "
            f"unexpected {list((served - expected).items())[:3]}"
        )
    # A replay ends with every window final on both sides.
    for table in WINDOW_TABLES[1:]:
        open_rows = pinot.query(f"SELECT count(*) FROM {table} WHERE NOT is_final")  # noqa: S608
        assert open_rows.rows[0][0] == 0, table


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
    pinot = PinotSnapshotStore(pinot_store(stack))
    served = Counter(pinot.query("SELECT raw, reason FROM dead_letters").rows)
    assert served == refused


def test_check_recomputes_pinot_from_kafka(stack: StackConfig, replay: dict[str, Any]) -> None:
    report, ok = check_served(
        arrival_lines(stack), PinotSnapshotStore(pinot_store(stack)), WINDOWS, replay["tmp"] / "c"
    )
    assert ok, report
    assert "all tables match" in report


def test_cli_check_and_query_read_the_stack(stack: StackConfig, replay: dict[str, Any]) -> None:
    stack_dir = ["--backend", "stack", "--stack-dir", str(stack.stack_dir)]
    check = pageviews("check", *stack_dir, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "all tables match" in check.stdout
    query = pageviews(
        "query", "SELECT sum(pageview_count) AS n FROM pageview_tumbling", "--format", "json",
        *stack_dir,
    )  # fmt: skip
    served = json.loads(query.stdout)[0]["n"]
    embedded = DuckDBFileStore(replay["embedded"]).query(
        "SELECT sum(pageview_count) FROM pageview_tumbling"
    )
    assert served == embedded.rows[0][0] > 0


def test_stack_dir_of_the_run_records_the_job(stack: StackConfig, replay: dict[str, Any]) -> None:
    job = json.loads(Path(stack.stack_dir / "flink-job.json").read_text())
    assert job["job_id"] == replay["report"].job_id
    assert job["bounded"] is True
    assert WindowConfig(**job["windows"]) == WINDOWS
