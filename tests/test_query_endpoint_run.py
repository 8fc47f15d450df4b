"""A query in flight never changes how a run ends (the real CLI, in a subprocess).

At the end of input, and on SIGTERM, the run interrupts the queries it is answering, waits for
them, and ends as it would have without them: its exit code, its last line, no traceback.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import REPO
from pageviews.errors import StoreError
from pageviews.store.clients import HttpStore
from pageviews.store.server import ENDPOINT_FILE

# Minutes of work on any data, in constant memory; the run ends long before.
SLOW_SQL = (
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3000) "
    "SELECT sum(hash(a.n, b.n, c.n) % 7) FROM r AS a, r AS b, r AS c"
)


def _start_run(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    # A statement timeout far past the run's end: only the run's stop can end the query.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PAGEVIEWS_QUERY_TIMEOUT_S": "120"}
    command = [sys.executable, "-m", "pageviews.cli", "run", "--data-dir", str(data_dir)]
    return subprocess.Popen(
        [*command, "--no-dashboard", "--quiet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def _query_in_flight(data_dir: Path) -> tuple[threading.Thread, list[str]]:
    """Send the slow query to the run's endpoint; the thread ends when it is answered."""
    endpoint = data_dir / ENDPOINT_FILE
    deadline = time.monotonic() + 60
    store = None
    while store is None and time.monotonic() < deadline:
        store = HttpStore.from_endpoint_file(endpoint) if endpoint.exists() else None
        time.sleep(0.05)
    assert store is not None, "the run never advertised its endpoint"
    answers: list[str] = []

    def ask() -> None:
        try:
            store.query(SLOW_SQL)
            answers.append("answered")
        except StoreError as error:
            answers.append(str(error))

    query = threading.Thread(target=ask, daemon=True)
    query.start()
    time.sleep(0.5)  # the query is running now
    return query, answers


def _assert_clean_end(run: subprocess.Popen[str], last_line: str) -> None:
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 0, stderr
    assert "Traceback" not in stderr and "busy" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"pageviews: {last_line}"), stderr


def test_end_of_input_with_a_query_in_flight(tmp_path: Path) -> None:
    run = _start_run(tmp_path / "data", "--events", "30000", "--rate", "10000")
    query, answers = _query_in_flight(tmp_path / "data")
    _assert_clean_end(run, "input complete.")
    query.join(timeout=30)
    assert len(answers) == 1 and "the run is stopping" in answers[0]


def test_sigterm_with_a_query_in_flight(tmp_path: Path) -> None:
    run = _start_run(tmp_path / "data", "--rate", "1000")  # the live generator: endless
    query, answers = _query_in_flight(tmp_path / "data")
    run.send_signal(signal.SIGTERM)
    _assert_clean_end(run, "stopped; run the same command to resume.")
    query.join(timeout=30)
    assert len(answers) == 1 and "the run is stopping" in answers[0]
