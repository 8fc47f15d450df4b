"""kill -9 at random points, then resume: the results equal those of an uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import REPO, pageviews, result_snapshot


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
