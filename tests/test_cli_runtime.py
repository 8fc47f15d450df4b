"""The CLI's runtime choice, its refusal of flags the runtime ignores, and its error handler.

These run `main` in this process: every case fails before a pipeline or a service starts, and
a socket guard proves that no service is contacted.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pageviews.cli.backend import RUNTIME_FLAGS, RUNTIMES, choose_runtime
from pageviews.cli.main import build_parser, main
from pageviews.errors import EXTRA_MODULES, install_command
from pageviews.runtimes.base import Runtime
from pageviews.runtimes.embedded import EmbeddedRuntime
from pageviews.runtimes.stack import StackRuntime
from pageviews.store.base import QueryResult

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"contacted {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)


def _fails_with_one_line(
    argv: Sequence[str], capsys: pytest.CaptureFixture[str], *wanted: str
) -> str:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.count("\n") == 1 and captured.err.startswith("pageviews: error: ")
    for text in wanted:
        assert text in captured.err
    assert captured.out == ""
    return captured.err


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["run", "--events", "10", "--no-dashboard", "--batch-lines", "5"], "--batch-lines"),
        (["run", "--events", "10", "--no-dashboard", "--threads", "1"], "--threads"),
        (["run", "--events", "10", "--no-dashboard", "--stats-json", "x"], "--stats-json"),
        (["run", "--events", "10", "--no-dashboard", "--data-dir", "x"], "--data-dir"),
        (["query", "SELECT 1", "--data-dir", "somewhere"], "--data-dir"),
        (["check", "--data-dir", "somewhere"], "--data-dir"),
        (["dashboard", "--data-dir", "somewhere"], "--data-dir"),
        (["bench", "--work-dir", "somewhere"], "--work-dir"),
    ],
)
def test_an_embedded_only_flag_with_the_stack_is_a_usage_error(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str], no_network: None
) -> None:
    _fails_with_one_line(
        [*argv, "--backend", "stack"], capsys, f"{flag} does not apply to --backend stack"
    )


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["run", "--events", "10", "--no-dashboard", "--stack-dir", "somewhere"], "--stack-dir"),
        (["query", "SELECT 1", "--stack-dir", "somewhere"], "--stack-dir"),
        (["check", "--stack-dir", "somewhere"], "--stack-dir"),
        (["bench", "--cold"], "--cold"),
    ],
)
def test_a_stack_only_flag_with_the_embedded_runtime_is_a_usage_error(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str], no_network: None
) -> None:
    _fails_with_one_line(argv, capsys, f"{flag} does not apply to --backend embedded")


def test_a_refused_flag_names_no_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: None
) -> None:
    """Before, `--data-dir` was ignored by the stack and still printed as the destination."""
    data_dir = tmp_path / "elsewhere"
    argv = ["run", "--backend", "stack", "--events", "10", "--no-dashboard"]
    error = _fails_with_one_line([*argv, "--data-dir", str(data_dir)], capsys, "--data-dir")
    assert str(data_dir) not in error and not data_dir.exists()


def test_the_real_cli_refuses_an_ignored_flag(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pageviews.cli", "run", "--backend", "stack", "--events", "10",
         "--no-dashboard", "--threads", "2", "--stack-dir", str(tmp_path / "stack")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == "pageviews: error: --threads does not apply to --backend stack\n"
    assert not (tmp_path / "stack").exists()


def _runtime(argv: list[str]) -> Runtime:
    return choose_runtime(build_parser().parse_args(argv))


def test_backend_chooses_the_runtime_with_its_own_flags(tmp_path: Path) -> None:
    embedded = _runtime(
        ["run", "--data-dir", str(tmp_path), "--batch-lines", "7", "--threads", "2"]
    )
    assert isinstance(embedded, EmbeddedRuntime)
    assert (embedded.data_dir, embedded.batch_lines, embedded.threads) == (tmp_path, 7, 2)
    assert embedded.destination() == str(tmp_path)
    stack = _runtime(["query", "SELECT 1", "--backend", "stack", "--stack-dir", str(tmp_path)])
    assert isinstance(stack, StackRuntime) and stack.stack_dir == tmp_path
    assert isinstance(_runtime(["check"]), EmbeddedRuntime)


def test_the_data_dir_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAGEVIEWS_DATA_DIR", str(tmp_path))
    runtime = _runtime(["query", "SELECT 1"])
    assert isinstance(runtime, EmbeddedRuntime) and runtime.data_dir == tmp_path


def test_every_runtime_flag_needs_a_declared_capability_that_some_runtime_has() -> None:
    for option in RUNTIME_FLAGS:
        assert option.capability.startswith("SUPPORTS_")
        assert hasattr(Runtime, option.capability), option
        assert any(getattr(runtime, option.capability) for runtime in RUNTIMES.values()), option


@pytest.mark.parametrize(
    ("argv", "flag", "to"),
    [
        (["generate", "--rate", "10"], "--rate", "file"),
        (["generate", "--stack-dir", "somewhere"], "--stack-dir", "file"),
        (["generate", "--to", "stack", "--out", "events.jsonl"], "--out", "stack"),
    ],
)
def test_generate_refuses_flags_of_the_other_destination(
    argv: list[str], flag: str, to: str, capsys: pytest.CaptureFixture[str], no_network: None
) -> None:
    _fails_with_one_line(argv, capsys, f"{flag} does not apply to --to {to}")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--events", "-1"], "--events: must be at least 0"),
        (["generate", "--late-fraction", "2"], "--late-fraction: must be within 0..1"),
        (["run", "--events", "5", "--batch-lines", "0", "--no-dashboard"], "--batch-lines"),
        (["run", "--events", "5", "--hop-size", "5m", "--hop-step", "2m"], "multiple of"),
    ],
)
def test_settings_out_of_range_are_one_clean_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _fails_with_one_line(argv, capsys, message)


class _BuggyStore:
    description = "a store with a bug"
    dialect = "duckdb"

    def query(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        raise ValueError("a bug, not the user's doing")


def test_a_bug_raising_value_error_keeps_its_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(EmbeddedRuntime, "store", lambda self: _BuggyStore())
    with pytest.raises(ValueError, match="a bug, not the user's doing"):
        main(["query", "SELECT 1"])
    assert "pageviews: error" not in capsys.readouterr().err


def test_install_command_is_exact_for_this_checkout() -> None:
    expected = f"{shlex.quote(sys.executable)} -m pip install -e '{REPO}[kafka]'"
    assert install_command("kafka") == expected


@pytest.mark.parametrize("module", EXTRA_MODULES["kafka"])
def test_a_missing_kafka_extra_prints_the_pip_command(
    module: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    no_network: None,
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # None: `import module` fails
    for argv in (
        ["stack", "status", "--stack-dir", str(tmp_path)],
        ["query", "SELECT 1", "--backend", "stack", "--stack-dir", str(tmp_path)],
        ["generate", "--to", "stack", "--stack-dir", str(tmp_path)],
    ):
        _fails_with_one_line(argv, capsys, "the 'kafka' extra", install_command("kafka"))


def test_a_missing_dashboard_extra_prints_the_pip_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "streamlit", None)
    _fails_with_one_line(
        ["dashboard", "--data-dir", str(tmp_path)], capsys, install_command("dashboard")
    )
    error = _fails_with_one_line(
        ["run", "--events", "5", "--data-dir", str(tmp_path)], capsys, install_command("dashboard")
    )
    assert "--no-dashboard" in error


# The real CLI, as `python -m pageviews.cli` runs it, in a Python where the extra is missing.
WITHOUT_KAFKA = """
import runpy, sys
sys.modules["confluent_kafka"] = None
sys.modules["pymysql"] = None
sys.argv = ["pageviews", *sys.argv[1:]]
runpy.run_module("pageviews.cli", run_name="__main__")
"""


def _without_kafka(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_KAFKA, *argv], capture_output=True, text=True, timeout=300
    )


def test_without_the_kafka_extra_the_stack_says_what_to_install(tmp_path: Path) -> None:
    result = _without_kafka("stack", "up", "--stack-dir", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "ImportError" not in result.stderr
    assert result.stderr == (
        f"pageviews: error: the stack needs the 'kafka' extra: {install_command('kafka')}\n"
    )


def test_without_the_kafka_extra_the_embedded_runtime_works(tmp_path: Path) -> None:
    run = _without_kafka(
        "run", "--events", "200", "--no-dashboard", "--data-dir", str(tmp_path), "--quiet"
    )
    assert run.returncode == 0, run.stderr
    query = _without_kafka(
        "query", "SELECT count(*) AS n FROM pageview_tumbling", "--format", "csv",
        "--data-dir", str(tmp_path),
    )  # fmt: skip
    assert query.returncode == 0, query.stderr
    assert int(query.stdout.splitlines()[1]) > 0


def test_the_embedded_runtime_never_reads_pinot(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    no_network: None,
) -> None:
    """The Pinot variables are how the stack runtime points its dashboard at Pinot."""
    monkeypatch.setenv("PAGEVIEWS_PINOT_BROKER_URL", "http://127.0.0.1:9")
    _fails_with_one_line(
        ["query", "SELECT 1", "--data-dir", str(tmp_path)],
        capsys,
        f"no pageviews data in {tmp_path}",
    )


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (None, "no Flink job was submitted from"),
        ({"bounded": False, "served": False}, "is live, and check needs a finished replay"),
        ({"bounded": True, "served": False}, "did not finish, or Pinot had not caught up"),
        ({"bounded": True, "served": True, "earlier_input": True}, "held earlier input"),
    ],
)
def test_check_on_the_stack_needs_a_finished_replay(
    tmp_path: Path, job: dict[str, Any] | None, message: str
) -> None:
    # Said before any service is asked: the job file in the stack dir tells.
    if job is not None:
        windows = {"lateness_ms": 30_000}
        (tmp_path / "flink-job.json").write_text(
            json.dumps({"job_id": "j1", "windows": windows} | job)
        )
    result = subprocess.run(
        [sys.executable, "-m", "pageviews.cli", "check", "--backend", "stack",
         "--stack-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1
