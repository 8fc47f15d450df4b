"""The pipeline process serves read-only queries on 127.0.0.1, so others can read while it writes.

DuckDB lets one process open a database file for writing, and no other process may open it
then, not even read-only. So `pageviews run` answers queries itself, on cursors of its own
connection: each sees the last committed micro-batch (DuckDB's MVCC), never half of one.

It advertises itself in <data dir>/endpoint.json: its URL and a random token, in a file only
its owner can read (0600, written whole under a temporary name and renamed). Every request must
carry `Authorization: Bearer <token>`; any other gets 401 and no data. So only the user who
started the run can query it; clients (dashboard, `pageviews query`) read the file, use the
endpoint when it answers, and read the DuckDB file directly when no run is live.

What a query may do is bounded: the allowlist and the statement timeout of store/readonly.py,
at most MAX_QUERIES at once. Stopping interrupts the queries in flight and waits for them, so a
query never changes how a run ends.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
import time
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
from pydantic import ValidationError

from pageviews.errors import ConfigError, StoreError
from pageviews.settings import CoreSettings
from pageviews.store.readonly import run_read_only

ENDPOINT_FILE = "endpoint.json"
MAX_REQUEST_BYTES = 1 << 20
# Queries run at once; more wait for a slot, up to the statement timeout, then get 503.
MAX_QUERIES = 4
# How long stop() waits for interrupted queries to return their cursors.
STOP_WAIT_S = 10.0


def query_timeout_s() -> float:
    """The statement timeout, $PAGEVIEWS_QUERY_TIMEOUT_S (default 10 s)."""
    try:
        return CoreSettings().query_timeout_s
    except ValidationError as error:
        problem = error.errors()[0]["msg"] if error.errors() else str(error)
        raise ConfigError(f"PAGEVIEWS_QUERY_TIMEOUT_S: {problem}") from None


def write_private(path: Path, text: str) -> None:
    """Write `path` readable by its owner only (0600), from its first byte: a new file under a
    temporary name, created with that mode, then renamed over `path` (atomic)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the mode exactly, whatever the umask
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class QueryServer:
    """An HTTP endpoint: POST /query {"sql", "params"} -> {"columns", "types", "rows"}.

    Every request carries `Authorization: Bearer <token>` (the token is in endpoint.json).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        data_dir: Path,
        port: int = 0,
        timeout_s: float | None = None,
    ) -> None:
        self.timeout_s = query_timeout_s() if timeout_s is None else timeout_s
        self.token = secrets.token_urlsafe(32)
        # A connection of the server's own, made here on the pipeline's thread; request threads
        # take cursors of it under a lock and never touch the pipeline's connection.
        self._reader = con.cursor()
        self._data_dir = data_dir
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a query returns its cursor
        self._running: set[duckdb.DuckDBPyConnection] = set()
        self._stopping = False
        self._slots = threading.BoundedSemaphore(MAX_QUERIES)
        self._http = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()
        endpoint = {
            "url": self.url,
            "pid": os.getpid(),
            "token": self.token,
            "query_timeout_s": self.timeout_s,
        }
        write_private(self._data_dir / ENDPOINT_FILE, json.dumps(endpoint))

    def stop(self) -> None:
        """Stop answering, interrupt the queries in flight, wait for them, then close."""
        (self._data_dir / ENDPOINT_FILE).unlink(missing_ok=True)
        with self._lock:
            self._stopping = True
        if self._thread.is_alive():  # shutdown() would wait forever for a loop never started
            self._http.shutdown()
        self._http.server_close()
        deadline = time.monotonic() + STOP_WAIT_S
        with self._idle:
            # Again until none is left: a query may take its cursor just before it starts.
            while self._running and time.monotonic() < deadline:
                for cursor in self._running:
                    cursor.interrupt()
                self._idle.wait(timeout=0.1)
            self._reader.close()

    def authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), self.token.encode()
        )

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            request = json.loads(body)
            sql, params = request["sql"], request.get("params", [])
            if not isinstance(sql, str) or not isinstance(params, list):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'expected JSON {"sql": "...", "params": [...]}'}
        if not self._slots.acquire(timeout=self.timeout_s):
            return 503, {"error": f"busy: {MAX_QUERIES} queries are running; try again"}
        try:
            return self._run(sql, params)
        finally:
            self._slots.release()

    def _run(self, sql: str, params: list[Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self._stopping:
                return 503, {"error": "the run is stopping"}
            cursor = self._reader.cursor()
            self._running.add(cursor)
        try:
            cursor.execute("SET TimeZone = 'UTC'")  # settings are per connection
            result = run_read_only(cursor, sql, params, timeout_s=self.timeout_s)
        except (StoreError, duckdb.Error) as error:
            if self._stopping:
                return 503, {"error": "the run is stopping; the query was interrupted"}
            return 400, {"error": str(error)}
        finally:
            with self._idle:
                self._running.discard(cursor)
                cursor.close()
                self._idle.notify_all()
        rows = [[_json_value(v) for v in row] for row in result.rows]
        return 200, {"columns": result.columns, "types": result.types, "rows": rows}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if not self._authorized():
                    return
                if self.path == "/health":
                    self._send(200, {"status": "ok"})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                if not self._authorized():
                    return
                if self.path != "/query":
                    self._send(404, {"error": "not found"})
                    return
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_REQUEST_BYTES:
                    self._send(400, {"error": f"Content-Length must be 0..{MAX_REQUEST_BYTES}"})
                    return
                status, payload = server.answer(self.rfile.read(length))
                self._send(status, payload)

            def _authorized(self) -> bool:
                """Whether the request carries the token; if not, answer 401 and nothing else."""
                if server.authorized(self.headers.get("Authorization")):
                    return True
                self.close_connection = True
                self._send(401, {"error": f"a valid token is required (see {ENDPOINT_FILE})"})
                return False

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                # Intervals, UUIDs, blobs and the like travel as text.
                body = json.dumps(payload, default=str).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    if status == 401:
                        self.send_header("WWW-Authenticate", "Bearer")
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up and went away; nobody is left to answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # queries every few seconds would flood the pipeline's progress output

        return Handler
