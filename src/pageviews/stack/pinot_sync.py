"""Wait until Pinot has consumed the result topics: every key of each upsert topic is a row,
and every record of each append topic.

Pinot consumes asynchronously, so a reader that wants "all results of this replay" must wait.
The topics say what to expect: for an upsert table, the number of distinct keys whose latest
value is not a tombstone; for an append table, the number of records.
"""

from __future__ import annotations

import time

from pageviews.errors import ServiceTimeout
from pageviews.model.results import RESULT_TABLES
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.readback import read_topic
from pageviews.store.pinot_store import PinotStore


def pinot_store(config: StackConfig, datetimes: bool = False) -> PinotStore:
    """The stack's Pinot; `datetimes`: time columns as datetimes (see PinotStore)."""
    return PinotStore(
        f"http://{HOST}:{config.pinot.broker_port}",
        controller_url=f"http://{HOST}:{config.pinot.controller_port}",
        datetimes=datetimes,
    )


def expected_rows(config: StackConfig) -> dict[str, int]:
    """Rows each Pinot table should hold once it has consumed its whole topic."""
    expected = {}
    for table in RESULT_TABLES:
        latest: dict[bytes | None, bool] = {}
        count = 0
        for record in read_topic(config, config.topics.result(table.name)):
            if table.upsert:
                latest[record.key] = record.value is not None
            elif record.value is not None:
                count += 1
        expected[table.name] = sum(latest.values()) if table.upsert else count
    return expected


def served_rows(store: PinotStore) -> dict[str, int]:
    counts = {}
    for table in RESULT_TABLES:
        result = store.query(f"SELECT COUNT(*) FROM {table.name}")  # noqa: S608 - known name
        counts[table.name] = int(result.rows[0][0]) if result.rows else 0
    return counts


def wait_caught_up(config: StackConfig, timeout_s: float = 300.0) -> dict[str, int]:
    """Wait until every Pinot table holds what its topic says; return the row counts."""
    expected = expected_rows(config)
    store = pinot_store(config)
    deadline = time.monotonic() + timeout_s
    while True:
        served = served_rows(store)
        if served == expected:
            return served
        if time.monotonic() > deadline:
            behind = {t: f"{served[t]}/{n}" for t, n in expected.items() if served[t] != n}
            raise ServiceTimeout(
                f"Pinot has not consumed every result in {timeout_s:.0f}s: {behind}"
            )
        time.sleep(1.0)
