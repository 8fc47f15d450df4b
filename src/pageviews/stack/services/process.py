"""Child processes of the stack: start detached with a log file and a pid file, stop by PID.

A pid file records the PID and the process's start time, so `down` never signals a process that
merely reused the PID: only what `up` started is stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

# Re-exported: the service modules import it from here.
from pageviews.errors import ServiceError as ServiceError
from pageviews.stack.config import HOST


@dataclass(frozen=True)
class Service:
    name: str
    run_dir: Path  # holds <name>.pid and <name>.log

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def process(self) -> psutil.Process | None:
        """Our running process, or None (no pid file, dead, or PID reused by another process)."""
        try:
            record = json.loads(self.pid_file.read_text())
            proc = psutil.Process(int(record["pid"]))
            if abs(proc.create_time() - float(record["started"])) > 1.0:
                return None  # the PID now belongs to someone else
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except (FileNotFoundError, ValueError, KeyError, psutil.Error):
            return None

    def pid(self) -> int | None:
        proc = self.process()
        return None if proc is None else proc.pid

    def start(
        self,
        command: Sequence[str],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            log.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            # New session: the service outlives the CLI and gets no Ctrl-C from its terminal.
            proc = subprocess.Popen(  # noqa: S603 - commands are built by this package
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        started = psutil.Process(proc.pid).create_time()
        self.pid_file.write_text(json.dumps({"pid": proc.pid, "started": started}))
        return proc.pid

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM our process, SIGKILL after `timeout_s`; True if one was running."""
        proc = self.process()
        if proc is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self.pid_file.unlink(missing_ok=True)
        return True

    def rss_mb(self) -> float | None:
        proc = self.process()
        try:
            return None if proc is None else proc.memory_info().rss / 2**20
        except psutil.Error:
            return None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_owner(port: int) -> str:
    """Who listens on `port`, as "name (pid N)", or "another process" if not visible."""
    try:
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
                if conn.pid:
                    return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
    except psutil.Error:
        pass
    return "another process"


def wait_until(
    check: Callable[[], bool],
    service: Service,
    what: str,
    timeout_s: float,
    interval_s: float = 0.5,
) -> None:
    """Poll `check` until it is true; fail early if the service died, with its log's tail."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ServiceError:
            raise
        except Exception:  # noqa: BLE001 - a probe failing just means "not yet"
            pass
        if service.process() is None:
            raise ServiceError(
                f"{service.name} exited while {what}; log {service.log_file}:\n"
                + service.log_tail()
            )
        time.sleep(interval_s)
    raise ServiceError(
        f"{service.name}: timed out after {timeout_s:.0f}s {what}; log {service.log_file}:\n"
        + service.log_tail()
    )
