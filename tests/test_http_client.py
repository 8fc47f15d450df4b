"""The HTTP helper against a small local server on 127.0.0.1: answers, errors, timeouts."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from pageviews import http_client
from pageviews.errors import BODY_SHOWN, HttpError
from pageviews.stack.services.process import Service, wait_until

LONG_ERROR = "x" * (BODY_SHOWN + 100)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass  # keep the test output clean

    def _answer(self, status: int, text: str, content_type: str = "application/json") -> None:
        raw = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length).decode() if length else None
        echo = {
            "method": self.command,
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "body": None if sent is None else json.loads(sent),
        }
        self._answer(200, json.dumps(echo))

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path == "/health":
            self._answer(200, "OK", "text/plain")
        elif self.path == "/empty":
            self._answer(200, "")
        elif self.path == "/not-json":
            self._answer(200, "<html>oops</html>", "text/html")
        elif self.path == "/missing":
            self._answer(404, '{"error": "no such table"}')
        elif self.path == "/long-error":
            self._answer(500, LONG_ERROR, "text/plain")
        elif self.path == "/slow":
            time.sleep(1.0)
            self._answer(200, "{}")
        elif self.path == "/cut":
            # Promises 100 bytes, sends 10, hangs up: an answer cut off while it is read.
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"a": 1234')
            self.wfile.flush()
            self.close_connection = True
        else:
            self._echo()

    do_POST = do_PUT = do_PATCH = do_DELETE = _echo  # noqa: N815 - http.server's naming


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the timeout test's client hangs up before /slow answers, on purpose


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_each_method_sends_json_and_decodes_the_answer(server: str) -> None:
    got = http_client.get(f"{server}/things")
    assert got == {
        "method": "GET",
        "path": "/things",
        "content_type": "application/json",
        "body": None,
    }
    for call, method in (
        (http_client.post, "POST"),
        (http_client.put, "PUT"),
        (http_client.patch, "PATCH"),
    ):
        echo = call(f"{server}/things?mode=x", {"n": 1, "s": "é"})
        assert (echo["method"], echo["path"], echo["body"]) == (
            method,
            "/things?mode=x",
            {"n": 1, "s": "é"},
        )
    assert http_client.delete(f"{server}/things/7")["method"] == "DELETE"
    assert http_client.get(f"{server}/empty") is None


def test_values_json_cannot_encode_need_an_explicit_default(server: str) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(TypeError):
        http_client.post(f"{server}/q", {"params": [when]})
    echo = http_client.request("POST", f"{server}/q", {"params": [when]}, json_default=str)
    assert echo["body"] == {"params": ["2026-01-01 00:00:00+00:00"]}


def test_an_error_status_names_method_url_status_and_body(server: str) -> None:
    with pytest.raises(HttpError) as missing:
        http_client.get(f"{server}/missing")
    error = missing.value
    assert (error.status, error.method, error.url) == (404, "GET", f"{server}/missing")
    assert json.loads(error.body) == {"error": "no such table"}
    assert str(error) == f'GET {server}/missing: 404 Not Found: {{"error": "no such table"}}'

    with pytest.raises(HttpError) as long:
        http_client.get(f"{server}/long-error")
    assert long.value.status == 500 and long.value.body == LONG_ERROR
    assert str(long.value).endswith(": " + "x" * BODY_SHOWN + " ...")


def test_an_answer_that_is_not_json_is_an_error(server: str) -> None:
    with pytest.raises(HttpError, match="200 answer is not JSON: <html>oops</html>") as error:
        http_client.get(f"{server}/not-json")
    assert error.value.status == 200


def test_no_answer_has_no_status(server: str) -> None:
    refused = f"http://127.0.0.1:{_closed_port()}/x"
    with pytest.raises(HttpError, match=r"^GET http://127\.0\.0\.1:\d+/x: no answer \(") as error:
        http_client.get(refused)
    assert error.value.status is None

    started = time.monotonic()
    with pytest.raises(HttpError, match="no answer") as slow:
        http_client.get(f"{server}/slow", timeout_s=0.2)
    assert slow.value.status is None and time.monotonic() - started < 0.9

    with pytest.raises(HttpError, match="no answer") as cut:
        http_client.get(f"{server}/cut")
    assert cut.value.status is None


def test_probe_reads_health_text_without_headers(server: str) -> None:
    assert http_client.probe_text(f"{server}/health", timeout_s=2) == "OK"
    assert http_client.probe_text(f"{server}/missing", timeout_s=2) is None
    assert http_client.probe_text(f"http://127.0.0.1:{_closed_port()}/health", 2) is None
    # The echo shows what a probe sends: a GET with no Content-Type.
    echo = json.loads(http_client.probe_text(f"{server}/echo", timeout_s=2) or "{}")
    assert echo["method"] == "GET" and echo["content_type"] is None


def test_only_http_urls_are_opened() -> None:
    with pytest.raises(ValueError, match="not an http URL"):
        http_client.get("file:///etc/passwd")


def test_a_service_that_does_not_answer_yet_is_waited_for(tmp_path: Path) -> None:
    """Health probes go through this helper: no answer must mean "not yet" to wait_until,
    which gives up early only on a ServiceError (or when the process is gone)."""
    port = _closed_port()
    answers_after = time.monotonic() + 1.0

    def probe() -> bool:
        if time.monotonic() < answers_after:
            http_client.get(f"http://127.0.0.1:{port}/")  # refused: no answer yet
        return True

    # Our own process stands in for the service's: it is alive throughout.
    service = Service("probe-test", tmp_path)
    started = psutil.Process(os.getpid()).create_time()
    service.pid_file.write_text(json.dumps({"pid": os.getpid(), "started": started}))
    wait_until(probe, service, "waiting for the probe", timeout_s=10, interval_s=0.1)
    assert time.monotonic() >= answers_after
