"""The one HTTP client of the package: JSON over REST (Connect, Flink, Pinot, the query endpoint).

Standard library only, so readers of the embedded runtime need no extra. Every failure is one
error type, `HttpError`, naming the method, the URL, the status (None when nothing answered:
refused, timed out, cut off) and the start of the body, so a message says which call failed and
a caller can tell "not there" (404) from "no service".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from http.client import HTTPException
from typing import Any

from pageviews.errors import HttpError

DEFAULT_TIMEOUT_S = 10.0


def _exchange(
    method: str,
    url: str,
    body: Any,
    timeout_s: float,
    json_content_type: bool,
    json_default: Callable[[Any], Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, str]:
    """(status, text) of a success; HttpError for anything else."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http URL: {url!r}")
    data = None if body is None else json.dumps(body, default=json_default).encode()
    sent = {"Content-Type": "application/json"} if json_content_type else {}
    sent |= headers or {}
    call = urllib.request.Request(url, data=data, method=method, headers=sent)  # noqa: S310 - http(s) only, checked above
    try:
        with urllib.request.urlopen(call, timeout=timeout_s) as response:  # noqa: S310
            status, raw = int(response.status), response.read()
    except urllib.error.HTTPError as error:
        try:
            detail = error.read().decode(errors="replace")
        except (OSError, HTTPException):
            detail = ""
        raise HttpError(method, url, error.code, str(error.reason), detail) from None
    except urllib.error.URLError as error:
        raise HttpError(method, url, None, str(error.reason)) from None
    except (OSError, HTTPException) as error:  # timed out or cut off while reading
        raise HttpError(method, url, None, str(error) or type(error).__name__) from None
    return status, raw.decode(errors="replace")


def request(
    method: str,
    url: str,
    body: Any = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    json_default: Callable[[Any], Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """Send `body` as JSON (if given); return the answer decoded from JSON, None if empty.

    `Content-Type: application/json` goes with every request, with a body or not, as these
    REST APIs have always been called. `json_default` encodes what JSON cannot (see json.dumps);
    `headers` go with it (the query endpoint's Authorization).
    """
    status, text = _exchange(method, url, body, timeout_s, True, json_default, headers)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise HttpError(method, url, status, "answer is not JSON", text) from None


def get(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    return request("GET", url, timeout_s=timeout_s)


def post(url: str, body: Any, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    return request("POST", url, body, timeout_s)


def put(url: str, body: Any, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    return request("PUT", url, body, timeout_s)


def patch(url: str, body: Any = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    return request("PATCH", url, body, timeout_s)


def delete(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    return request("DELETE", url, timeout_s=timeout_s)


def probe_text(url: str, timeout_s: float, headers: Mapping[str, str] | None = None) -> str | None:
    """GET a health endpoint (only `headers`): its text, or None if it did not answer with a
    success."""
    try:
        return _exchange("GET", url, None, timeout_s, False, headers=headers)[1]
    except HttpError:
        return None
