"""The pipeline process serves read-only queries on 127.0.0.1, so others can read while it writes.

DuckDB lets one process open a database file for writing, and no other process may open it
then, not even read-only. So `pageviews run` answers queries itself, on cursors of its own
connection: each sees the last committed micro-batch (DuckDB's MVCC), never half of one.

It advertises itself in <data dir>/endpoint.json; clients (dashboard, `pageviews query`) use
it when it answers, and read the file directly when no run is live.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb

from pageviews.errors import StoreError
from pageviews.store.readonly import run_read_only

ENDPOINT_FILE = "endpoint.json"
MAX_REQUEST_BYTES = 1 << 20


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class QueryServer:
    """An HTTP endpoint: POST /query {"sql", "params"} -> {"columns", "types", "rows"}."""

    def __init__(self, con: duckdb.DuckDBPyConnection, data_dir: Path, port: int = 0) -> None:
        # A connection of the server's own, made here on the pipeline's thread; request threads
        # take cursors of it under a lock and never touch the pipeline's connection.
        self._reader = con.cursor()
        self._data_dir = data_dir
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()
        endpoint = {"url": self.url, "pid": os.getpid()}
        (self._data_dir / ENDPOINT_FILE).write_text(json.dumps(endpoint))

    def stop(self) -> None:
        (self._data_dir / ENDPOINT_FILE).unlink(missing_ok=True)
        if self._thread.is_alive():  # shutdown() would wait forever for a loop never started
            self._http.shutdown()
        self._http.server_close()
        self._reader.close()

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        try:
            request = json.loads(body)
            sql, params = request["sql"], request.get("params", [])
            if not isinstance(sql, str) or not isinstance(params, list):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return 400, {"error": 'expected JSON {"sql": "...", "params": [...]}'}
        with self._lock:
            cursor = self._reader.cursor()
        try:
            cursor.execute("SET TimeZone = 'UTC'")  # settings are per connection
            result = run_read_only(cursor, sql, params)
        except StoreError as error:
            return 400, {"error": str(error)}
        finally:
            cursor.close()
        rows = [[_json_value(v) for v in row] for row in result.rows]
        return 200, {"columns": result.columns, "types": result.types, "rows": rows}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path == "/health":
                    self._send(200, {"status": "ok"})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
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

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                # Intervals, UUIDs, blobs and the like travel as text.
                body = json.dumps(payload, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # queries every few seconds would flood the pipeline's progress output

        return Handler
