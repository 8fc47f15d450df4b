"""kill -9 at random points, then resume: the results equal those of an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from helpers import REPO, pageviews, result_snapshot
from pageviews.store.duckdb_store import DB_FILE


def _start_run(events_file: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pageviews.cli",
            "run",
            "--input",
            str(events_file),
            "--no-dashboard",
            "--quiet",
            "--batch-lines",
            "2000",
            "--data-dir",
            str(data_dir),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_kill_9_and_resume_changes_no_result(tmp_path: Path) -> None:
    events_file = tmp_path / "events.jsonl"
    pageviews("generate", "--events", "200000", "--seed", "21", "--out", str(events_file))
    reference = tmp_path / "reference"
    started = time.monotonic()
    pageviews("run", "--input", str(events_file), "--no-dashboard", "--data-dir", str(reference))
    full_run_s = time.monotonic() - started

    interrupted = tmp_path / "interrupted"
    chance = random.Random(2024)
    kills = 0
    for _ in range(6):
        process = _start_run(events_file, interrupted)
        # Each attempt resumes and gets a little further before its kill.
        time.sleep(chance.uniform(0.2, 0.45) * full_run_s)
        if process.poll() is not None:
            break  # it finished before this kill
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills >= 3, "the run finished too fast to be interrupted; use a bigger input"

    finish = _start_run(events_file, interrupted)
    _, stderr = finish.communicate(timeout=600)
    assert finish.returncode == 0, stderr.decode()

    assert result_snapshot(interrupted) == result_snapshot(reference)
    assert "all tables match" in pageviews("check", "--data-dir", str(interrupted)).stdout


def test_a_page_view_with_a_users_op_is_a_page_view(tmp_path: Path) -> None:
    """The line that once stopped every run (issue #12): the default generated data, with a
    page view and a user session that carry a user's `op`."""
    events_file = tmp_path / "events.jsonl"
    pageviews("generate", "--out", str(events_file))
    lines = events_file.read_text().splitlines()
    page_view = (
        '{"type":"pageview","session_id":"with-op","user_id":7,"source":"Inbox",'
        '"event_timestamp":"2026-01-01 00:00:01","op":"upsert"}'
    )
    session = (
        '{"type":"usersession","op":"delete","session_id":"with-op","user_id":7,'
        '"user_name":"ana","login_timestamp":"2026-01-01 00:00:01","device":"Mobile"}'
    )
    lines[len(lines) // 2 : len(lines) // 2] = [page_view]
    lines.append(session)
    events_file.write_text("\n".join(lines) + "\n")
    data_dir = tmp_path / "run"

    run = pageviews(
        "run", "--input", str(events_file), "--no-dashboard", "--data-dir", str(data_dir)
    )
    assert "input complete" in run.stderr + run.stdout
    assert "all tables match" in pageviews("check", "--data-dir", str(data_dir)).stdout
    with duckdb.connect(str(data_dir / DB_FILE), read_only=True) as con:
        for table in ("raw_pageviews", "raw_usersessions"):
            query = f"SELECT count(*) FROM {table} WHERE session_id = 'with-op'"  # noqa: S608
            assert con.execute(query).fetchall() == [(1,)], table
    again = pageviews(
        "run", "--input", str(events_file), "--no-dashboard", "--data-dir", str(data_dir)
    )
    assert "already fully processed" in again.stderr + again.stdout
