"""Start the Streamlit dashboard as a child process bound to 127.0.0.1."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pageviews.errors import ServiceError, UsageError, require_extra
from pageviews.store.data_dir import make_data_dir, owner_only

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501
PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 60.0  # Streamlit listens within a few seconds; a cold import takes longer


def check_port_free(port: int) -> None:
    """Refuse a port that the dashboard could not listen on, before anything starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise UsageError(
                f"--dashboard-port {port}: cannot listen on 127.0.0.1:{port} "
                f"({(error.strerror or str(error)).lower()}); choose another port, "
                "or --no-dashboard"
            ) from error


def dashboard_command(data_dir: Path, port: int, refresh_s: int) -> list[str]:
    require_extra("dashboard", "the dashboard")
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
        "--", "--data-dir", str(data_dir), "--refresh", str(refresh_s),
    ]  # fmt: skip


LOG_FILE = "dashboard.log"


def start_dashboard(
    data_dir: Path, port: int, refresh_s: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """The dashboard as a child process; its output goes to <data dir>/dashboard.log.

    `env` adds variables for the child: the stack backend names Pinot's addresses there."""
    require_extra("dashboard", "the dashboard", hint="or run with --no-dashboard")
    make_data_dir(data_dir)  # owner-only, as the run makes it; so is the log
    log_path = data_dir / LOG_FILE
    with log_path.open("ab") as log:
        owner_only(log_path)
        log_start = log.tell()
        process = subprocess.Popen(  # noqa: S603 - our own command line
            dashboard_command(data_dir, port, refresh_s),
            stdout=log,
            stderr=log,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )
    _wait_listening(process, port, log_path, log_start)
    return process


def _wait_listening(
    process: subprocess.Popen[bytes], port: int, log_path: Path, log_start: int
) -> None:
    """Return once the dashboard listens; a dashboard that dies at start is a ServiceError
    with the last line that it logged."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            with log_path.open("rb") as log:
                log.seek(log_start)
                lines = log.read().decode(errors="replace").split("\n")
            said = [line.strip() for line in lines if line.strip()]
            last = f": {said[-1][:300]}" if said else ""
            raise ServiceError(
                f"the dashboard exited at start with code {code}{last} (log: {log_path}; "
                "or run with --no-dashboard)"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    # Still starting: the run goes on; the log says what became of it.


def _die_with_parent() -> None:
    """Linux: the dashboard gets SIGTERM when the pipeline dies, even by kill -9."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the pipeline still terminates it on a normal exit
