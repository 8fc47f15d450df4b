"""Every user error is one line on stderr and exit code 2, never a traceback (issue 12).

Each case runs the real CLI in a subprocess with a hostile value. A refused run has written
nothing: its data dir (`DATA`, replaced by a fresh path) does not exist afterwards.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import pageviews
from pageviews.dashboard.launcher import _wait_listening
from pageviews.errors import ServiceError

DATA = "<data>"  # a data dir that must not exist after the refused command
FILE = "<file>"  # an existing file
DIR = "<dir>"  # an existing directory

RUN = ["run", "--no-dashboard", "--data-dir", DATA]
RUN_EVENTS = [*RUN, "--events", "10"]
WITH_DASHBOARD = ["run", "--events", "10", "--data-dir", DATA]
IN = ["run", "--no-dashboard", "--events", "10", "--data-dir"]  # then the data dir

# (arguments, what the one line must say)
BAD_ARGUMENTS = [
    # run: numbers
    ([*RUN_EVENTS, "--rate", "inf"], "--rate: must be a finite number above 0"),
    ([*RUN_EVENTS, "--rate", "nan"], "--rate: must be a finite number above 0"),
    ([*RUN_EVENTS, "--rate", "-1"], "--rate: must be a finite number above 0"),
    ([*RUN_EVENTS, "--rate", "0"], "--rate: must be a finite number above 0"),
    ([*RUN_EVENTS, "--rate", "fast"], "--rate: not a number"),
    ([*RUN, "--events", "-5"], "--events: must be at least 0"),
    ([*RUN, "--events", "1e3"], "--events: not a whole number"),
    ([*RUN_EVENTS, "--users", "0"], "--users: must be within 1..1,000,000"),
    ([*RUN_EVENTS, "--users", "99999999999"], "--users: must be within 1..1,000,000"),
    ([*RUN_EVENTS, "--seed", "x"], "--seed: invalid int value"),
    ([*RUN_EVENTS, "--threads", "0"], "--threads: must be within 1..256"),
    ([*RUN_EVENTS, "--threads", "100000"], "--threads: must be within 1..256"),
    ([*RUN_EVENTS, "--batch-lines", "0"], "--batch-lines: must be within 1..10,000,000"),
    ([*RUN_EVENTS, "--batch-lines", "10" * 20], "--batch-lines: must be within"),
    # run: windows
    ([*RUN_EVENTS, "--tumbling", "999999999999h"], "--tumbling: at most 87,600h"),
    ([*RUN_EVENTS, "--lateness", "99999999999999999999ms"], "--lateness: at most"),
    ([*RUN_EVENTS, "--tumbling", "0"], "--tumbling must be above 0"),
    ([*RUN_EVENTS, "--session-gap=-5m"], "--session-gap: not a duration"),
    ([*RUN_EVENTS, "--country-window", ""], "--country-window: not a duration"),
    ([*RUN_EVENTS, "--hop-step", "1ms"], "at most 1000 windows per event"),
    ([*RUN_EVENTS, "--hop-step", "7m"], "--hop-size must be a multiple of --hop-step"),
    ([*RUN_EVENTS, "--user-session-gap", "0ms"], "--user-session-gap must be above 0"),
    # run: the dashboard
    ([*WITH_DASHBOARD, "--dashboard-port", "99999"], "--dashboard-port: must be within 1..65,535"),
    ([*WITH_DASHBOARD, "--dashboard-port", "0"], "--dashboard-port: must be within"),
    ([*WITH_DASHBOARD, "--refresh", "-1"], "--refresh: must be within 1..86,400"),
    # run: paths
    ([*RUN, "--input", ""], "--input must not be empty"),
    ([*RUN, "--input", DIR], "is a directory, not a file"),
    ([*RUN, "--input", "no-such-file.jsonl"], "no such input file"),
    ([*RUN, "--input", FILE, "--events", "5"], "do not go together"),
    ([*IN, ""], "--data-dir: must not be empty"),
    ([*IN, FILE], "is a file, not a directory"),
    ([*IN, f"{FILE}/sub"], "is a file, not a directory"),
    ([*IN, "/proc/pageviews-data"], "cannot create data dir /proc/pageviews-data"),
    ([*RUN_EVENTS, "--stats-json", "nowhere/s.json"], "folder nowhere does not exist"),
    ([*RUN_EVENTS, "--stats-json", DIR], "is a directory, not a file"),
    ([*RUN_EVENTS, "--stats-json", ""], "--stats-json: must not be empty"),
    ([*RUN_EVENTS, "--backend", "nope"], "--backend: invalid choice"),
    ([*RUN_EVENTS, "--backend", "stack"], "does not apply to --backend stack"),
    # generate
    (["generate", "--events", "-1"], "--events: must be at least 0"),
    (["generate", "--users", "0"], "--users: must be within"),
    (["generate", "--late-fraction", "nan"], "--late-fraction: must be within 0..1"),
    (["generate", "--malformed-fraction", "1.5"], "--malformed-fraction: must be within 0..1"),
    (["generate", "--out", "no-such-folder/x.jsonl"], "the folder no-such-folder does not exist"),
    (["generate", "--out", DIR], "is a directory, not a file"),
    (["generate", "--out", f"{FILE}/x.jsonl"], "is not a directory"),
    (["generate", "--out", ""], "--out: must not be empty"),
    (["generate", "--to", "stack", "--rate", "inf"], "--rate: must be a finite number above 0"),
    (["generate", "--to", "kafka"], "--to: invalid choice"),
    (["generate", "--rate", "5"], "--rate does not apply to --to file"),
    # query, check, dashboard
    (["query", "SELECT 1", "--data-dir", FILE], "is a file, not a directory"),
    (["query", "SELECT 1", "--data-dir", DATA], "no pageviews data"),
    (["query", "SELECT 1", "--data-dir", DATA, "--format", "xml"], "--format: invalid choice"),
    (["check", "--data-dir", FILE], "is a file, not a directory"),
    (["check", "--data-dir", DATA], "no pageviews data"),
    (["dashboard", "--data-dir", DATA, "--dashboard-port", "99999"], "--dashboard-port: must"),
    (["dashboard", "--data-dir", DATA, "--refresh", "0"], "--refresh: must be within"),
    # bench
    (["bench", "--events", "0"], "--events: must be at least 1"),
    (["bench", "--live-rate", "inf"], "--live-rate: must be a finite number above 0"),
    (["bench", "--live-seconds", "nan"], "--live-seconds: must be a finite number above 0"),
    (["bench", "--work-dir", FILE], "--work-dir"),
    (["bench", "--cold"], "--cold does not apply to --backend embedded"),
    # stack, before any service is contacted
    (["stack", "logs", "-n", "-1"], "--lines: must be at least 0"),
    (["stack", "job", "submit", "--tumbling", "999999999999h"], "--tumbling: at most"),
    (["stack", "job", "status"], "needs a job id"),
    (["stack", "nope"], "invalid choice"),
    ([], "the following arguments are required: command"),
    (["nope"], "invalid choice"),
]  # fmt: skip


def _fill(args: list[str], tmp_path: Path) -> tuple[list[str], Path]:
    data_dir = tmp_path / "data"
    afile = tmp_path / "afile.jsonl"
    afile.write_text("")
    adir = tmp_path / "adir"
    adir.mkdir()
    places = {DATA: str(data_dir), FILE: str(afile), DIR: str(adir)}
    filled = [places.get(arg, arg.replace(FILE, str(afile))) for arg in args]
    if args[:1] == ["stack"] and args[1] != "nope":  # never the user's stack dir
        filled += ["--stack-dir", str(tmp_path / "stack")]
    return filled, data_dir


CaseResult = tuple[subprocess.CompletedProcess[str], Path]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[int, CaseResult]:
    """Every case's CLI run, several at a time: each one starts a Python process."""

    def run(index: int) -> CaseResult:
        tmp_path = tmp_path_factory.mktemp(f"case{index}")
        filled, data_dir = _fill(BAD_ARGUMENTS[index][0], tmp_path)
        return pageviews(*filled, check=False, cwd=tmp_path, timeout=120), data_dir

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(enumerate(pool.map(run, range(len(BAD_ARGUMENTS)))))


@pytest.mark.parametrize(
    "index", range(len(BAD_ARGUMENTS)), ids=[" ".join(args) for args, _ in BAD_ARGUMENTS]
)
def test_a_bad_argument_is_one_line_and_exit_2(index: int, results: dict[int, CaseResult]) -> None:
    message = BAD_ARGUMENTS[index][1]
    result, data_dir = results[index]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    assert message in result.stderr, result.stderr
    assert not data_dir.exists(), "a refused command created its data dir"


def test_a_port_in_use_is_refused_before_the_data_dir_is_made(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir = tmp_path / "data"
        result = pageviews(
            "run", "--events", "10", "--data-dir", str(data_dir),
            "--dashboard-port", str(port), check=False,
        )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not data_dir.exists()


def test_a_dashboard_that_dies_at_start_is_a_clear_error(tmp_path: Path) -> None:
    log = tmp_path / "dashboard.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "print('Port 8501 is already in use'); raise SystemExit(1)"],
            stdout=out,
            stderr=out,
        )
    with pytest.raises(ServiceError, match="exited at start with code 1: Port 8501 is already"):
        _wait_listening(process, 1, log, 0)
