"""Start the Streamlit dashboard as a child process bound to 127.0.0.1."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

from pageviews.errors import require_extra

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501
PR_SET_PDEATHSIG = 1


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
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOG_FILE).open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - our own command line
            dashboard_command(data_dir, port, refresh_s),
            stdout=log,
            stderr=log,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )


def _die_with_parent() -> None:
    """Linux: the dashboard gets SIGTERM when the pipeline dies, even by kill -9."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the pipeline still terminates it on a normal exit
