"""Shared by the tests that start the real stack: a started stack, short windows, clean input."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import orjson
import pytest
from confluent_kafka import Consumer

from pageviews.config import WindowConfig
from pageviews.stack.config import StackConfig
from pageviews.stack.services import manager
from pageviews.validation.record import InvalidRecord, timestamp_ms, validate

# Windows of seconds, so a few thousand generated lines close many of them.
SHORT_WINDOWS = WindowConfig(
    lateness_ms=2_000,
    tumbling_ms=5_000,
    hopping_size_ms=10_000,
    hopping_step_ms=5_000,
    session_gap_ms=3_000,
    user_session_gap_ms=3_000,
    country_ms=5_000,
)


@contextmanager
def running_stack(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[StackConfig]:
    """Every service of the stack, in a new stack dir; stopped afterwards. A service that
    cannot start fails the test (ports come from PAGEVIEWS_* as for `stack up`)."""
    config = StackConfig.from_env(tmp_path_factory.mktemp(name))
    try:
        manager.up(config, say=lambda text: None)
        yield config
    finally:
        manager.down(config, say=lambda text: None)


def in_order_user_changes(lines: Iterable[str]) -> list[str]:
    """The lines without user changes older than a change of the same user before them.

    Flink's versioned view drops such a version (docs/semantics.md, section 12); the embedded
    engine uses it. Both runtimes get the same lines, so the comparison stays exact."""
    newest: dict[int, int] = {}
    kept = []
    for line in lines:
        try:
            record = orjson.loads(line)
            rtype = validate(record)
        except (orjson.JSONDecodeError, InvalidRecord):
            kept.append(line)
            continue
        if rtype.name == "user":
            ms = timestamp_ms(record["updated_at"])
            assert ms is not None
            if ms < newest.get(record["user_id"], ms):
                continue
            newest[record["user_id"]] = ms
        kept.append(line)
    return kept


def consumer_from_start(config: StackConfig, topic: str) -> Consumer:
    """A consumer of `topic` in a group of its own, from the start, committed records only."""
    consumer = Consumer(
        {
            "bootstrap.servers": config.bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    return consumer
