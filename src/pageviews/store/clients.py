"""Stores for readers: the live pipeline's endpoint when one answers, else the DuckDB file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pageviews import http_client
from pageviews.errors import HttpError, StoreError
from pageviews.settings import PinotReaderSettings
from pageviews.store.base import DUCKDB, QueryResult, Store
from pageviews.store.duckdb_store import connect
from pageviews.store.readonly import run_read_only
from pageviews.store.server import ENDPOINT_FILE, query_timeout_s

# The client waits this much longer than the server's statement timeout, so that a slow query
# ends with the server's own message rather than with the client giving up.
TIMEOUT_MARGIN_S = 5.0


class DuckDBFileStore:
    """Reads the data dir's DuckDB file directly; works only while no run holds it."""

    def __init__(self, data_dir: Path, timeout_s: float | None = None) -> None:
        self.data_dir = data_dir
        self.description = f"DuckDB file in {data_dir}"
        self.dialect = DUCKDB
        self.timeout_s = query_timeout_s() if timeout_s is None else timeout_s

    def query(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        con = connect(self.data_dir, read_only=True)
        try:
            # The same allowlist and timeout as the live endpoint's.
            return run_read_only(con, sql, params, timeout_s=self.timeout_s)
        finally:
            con.close()


class HttpStore:
    """Queries the endpoint that a live `pageviews run` serves on 127.0.0.1, with its token."""

    def __init__(self, url: str, token: str, query_timeout_s: float = 10.0) -> None:
        self.url = url
        self.description = f"live pipeline at {url}"
        self.dialect = DUCKDB
        self._headers = {"Authorization": f"Bearer {token}"}
        self._timeout_s = query_timeout_s + TIMEOUT_MARGIN_S

    @classmethod
    def from_endpoint_file(cls, path: Path) -> HttpStore | None:
        """The store that endpoint.json describes; None if it cannot be read or is not one."""
        try:
            endpoint = json.loads(path.read_text())
            return cls(
                str(endpoint["url"]), str(endpoint["token"]), float(endpoint["query_timeout_s"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def query(self, sql: str, params: Sequence[Any] = ()) -> QueryResult:
        body = {"sql": sql, "params": list(params)}
        try:
            # Parameters JSON cannot carry (datetimes) travel as text; the server casts them.
            payload = http_client.request(
                "POST",
                f"{self.url}/query",
                body,
                timeout_s=self._timeout_s,
                json_default=str,
                headers=self._headers,
            )
        except HttpError as error:
            if error.status is None:
                raise StoreError(f"the pipeline at {self.url} did not answer: {error}") from error
            raise StoreError(_server_error(error)) from error
        rows = [_typed_row(row, payload["types"]) for row in payload["rows"]]
        return QueryResult(payload["columns"], rows, payload["types"])

    def alive(self) -> bool:
        health = http_client.probe_text(f"{self.url}/health", 2, headers=self._headers)
        return health is not None


def _server_error(error: HttpError) -> str:
    """The endpoint's own message ({"error": ...}), else what the status says."""
    try:
        message = json.loads(error.body).get("error")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else str(error)


def _typed_row(row: list[Any], types: list[str]) -> tuple[Any, ...]:
    """JSON carries timestamps as ISO text; give them back their type."""
    return tuple(
        datetime.fromisoformat(value) if value is not None and "TIMESTAMP" in kind else value
        for value, kind in zip(row, types, strict=True)
    )


def open_store(data_dir: Path) -> Store:
    """For the dashboard's process: Pinot if $PAGEVIEWS_PINOT_BROKER_URL is set (the stack
    runtime sets it), else the data dir's store (see open_data_dir_store)."""
    pinot = PinotReaderSettings()
    if pinot.broker_url:
        # Imported here: only Pinot readers need it.
        from pageviews.store.pinot_store import PinotStore

        return PinotStore(pinot.broker_url, pinot.controller_url, datetimes=True)
    return open_data_dir_store(data_dir)


def open_data_dir_store(data_dir: Path) -> Store:
    """The live pipeline's endpoint if it answers, else the file in the data dir."""
    store = HttpStore.from_endpoint_file(data_dir / ENDPOINT_FILE)
    if store is not None and store.alive():
        return store
    return DuckDBFileStore(data_dir)
