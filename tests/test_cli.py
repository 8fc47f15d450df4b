"""The CLI as a user runs it: real subprocesses, real files, real exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import pytest

from helpers import pageviews
from pageviews.store.duckdb_store import DB_FILE


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("input") / "events.jsonl"
    pageviews("generate", "--events", "5000", "--seed", "4", "--out", str(path))
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, events_file: Path) -> Path:
    path = tmp_path_factory.mktemp("data")
    result = pageviews(
        "run", "--input", str(events_file), "--no-dashboard", "--data-dir", str(path)
    )
    assert "input complete" in result.stderr
    return path


def test_generate_is_deterministic(tmp_path: Path, events_file: Path) -> None:
    again = tmp_path / "again.jsonl"
    pageviews("generate", "--events", "5000", "--seed", "4", "--out", str(again))
    assert again.read_bytes() == events_file.read_bytes()
    assert len(again.read_text().splitlines()) == 5000


def test_query_formats(data_dir: Path) -> None:
    sql = "SELECT source, sum(pageview_count) AS n FROM pageview_tumbling GROUP BY source"
    table = pageviews("query", sql, "--data-dir", str(data_dir)).stdout
    assert "source" in table and "(3 rows)" in table
    rows = list(
        csv.DictReader(
            io.StringIO(
                pageviews("query", sql, "--format", "csv", "--data-dir", str(data_dir)).stdout
            )
        )
    )
    as_json = json.loads(
        pageviews("query", sql, "--format", "json", "--data-dir", str(data_dir)).stdout
    )
    assert {r["source"]: int(r["n"]) for r in rows} == {r["source"]: r["n"] for r in as_json}
    assert sum(r["n"] for r in as_json) > 3000


def test_query_csv_gives_the_same_floats_as_json(data_dir: Path) -> None:
    sql = (
        "SELECT window_start, country, average_age FROM pageview_country "
        "WHERE average_age IS NOT NULL ORDER BY ALL"
    )
    as_csv = pageviews("query", sql, "--format", "csv", "--data-dir", str(data_dir)).stdout
    as_json = pageviews("query", sql, "--format", "json", "--data-dir", str(data_dir)).stdout
    from_csv = [float(row["average_age"]) for row in csv.DictReader(io.StringIO(as_csv))]
    from_json = [row["average_age"] for row in json.loads(as_json)]
    assert from_csv == from_json
    # Averages such as 42.636363... are there: 6 significant digits would not give them back.
    assert any(float(f"{age:.6g}") != age for age in from_json)


def test_query_is_read_only(data_dir: Path) -> None:
    result = pageviews(
        "query", "DELETE FROM pageview_tumbling", "--data-dir", str(data_dir), check=False
    )
    assert result.returncode == 2 and "read-only" in result.stderr.lower()
    count = pageviews(
        "query",
        "SELECT count(*) AS n FROM pageview_tumbling",
        "--format",
        "json",
        "--data-dir",
        str(data_dir),
    ).stdout
    assert json.loads(count)[0]["n"] > 0


def test_check_passes_then_catches_a_tampered_result(tmp_path: Path, events_file: Path) -> None:
    pageviews("run", "--input", str(events_file), "--no-dashboard", "--data-dir", str(tmp_path))
    ok = pageviews("check", "--data-dir", str(tmp_path))
    assert "all tables match" in ok.stdout
    con = duckdb.connect(str(tmp_path / DB_FILE))
    con.execute(
        "UPDATE pageview_hopping SET pageview_count = pageview_count + 1 "
        "WHERE rowid = (SELECT min(rowid) FROM pageview_hopping)"
    )
    con.close()
    bad = pageviews("check", "--data-dir", str(tmp_path), check=False)
    assert bad.returncode == 1
    assert "pageview_hopping" in bad.stdout and "MISMATCH" in bad.stdout


def test_rerun_of_a_finished_input_does_nothing(data_dir: Path, events_file: Path) -> None:
    result = pageviews(
        "run", "--input", str(events_file), "--no-dashboard", "--data-dir", str(data_dir)
    )
    assert "already fully processed" in result.stderr


def test_dead_letters_and_late_events_are_visible(data_dir: Path) -> None:
    out = pageviews(
        "query", "SELECT reason FROM dead_letters", "--format", "json", "--data-dir", str(data_dir)
    ).stdout
    reasons = [row["reason"] for row in json.loads(out)]
    assert reasons and all(reasons)
    late = pageviews(
        "query",
        "SELECT count(*) AS n FROM late_events",
        "--format",
        "json",
        "--data-dir",
        str(data_dir),
    ).stdout
    assert json.loads(late)[0]["n"] > 0


def test_stdin_input(tmp_path: Path, events_file: Path, data_dir: Path) -> None:
    pageviews(
        "run",
        "--input",
        "-",
        "--no-dashboard",
        "--data-dir",
        str(tmp_path),
        input=events_file.read_text(),
    )
    sql = "SELECT * FROM pageview_country ORDER BY ALL"
    assert (
        pageviews("query", sql, "--data-dir", str(tmp_path)).stdout
        == pageviews("query", sql, "--data-dir", str(data_dir)).stdout
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--input", "no-such-file.jsonl", "--no-dashboard"], "no such input file"),
        (["run", "--input", "x", "--events", "5", "--no-dashboard"], "do not go together"),
        (["run", "--events", "10", "--lateness", "soon", "--no-dashboard"], "not a duration"),
        (["run", "--events", "10", "--hop-step", "7m", "--no-dashboard"], "multiple of"),
        (["run", "--events", "10", "--rate", "0", "--no-dashboard"], "--rate: must be a finite"),
        (["check"], "no pageviews data"),
    ],
)
def test_errors_are_one_clean_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = pageviews(*args, "--data-dir", str(tmp_path / "empty"), check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_sql_is_one_clean_line(data_dir: Path) -> None:
    result = pageviews(
        "query", "SELECT nope FROM nowhere", "--data-dir", str(data_dir), check=False
    )
    assert result.returncode == 2 and "query failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # DuckDB's LINE 1: ... and ^^^ too


def test_a_data_dir_is_bound_to_one_input(data_dir: Path) -> None:
    result = pageviews(
        "run", "--events", "100", "--no-dashboard", "--data-dir", str(data_dir), check=False
    )
    assert result.returncode == 2 and "holds a run of" in result.stderr
