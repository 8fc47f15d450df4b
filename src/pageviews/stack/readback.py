"""Read the stack's raw input back from Kafka, as JSONL lines in (approximate) arrival order.

`pageviews check --backend stack` recomputes every result from these lines with the batch
oracle. Page views and user sessions are on their own topics; users come from the Debezium
topic, where each change is turned back into a user record:

    op c / u / r   ->  {"type": "user", "op": "upsert", ...after}
    op d           ->  {"type": "user", "op": "delete", user_id, updated_at of `before`}
    null value     ->  skipped (the tombstone Debezium sends after a delete)

A delete's `before` carries the delete's own time: the writer stamps it first (see
produce.STAMP_SQL).

Kafka has no order across partitions and topics; see arrival_lines for the order used.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pageviews.errors import ServiceError, ServiceTimeout
from pageviews.stack.config import StackConfig
from pageviews.stack.produce import POSITION_HEADER
from pageviews.validation.record import timestamp_ms

USER_FIELDS = ("user_id", "age", "gender", "country", "subscription", "updated_at")


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    position: tuple[int, int] | None = None  # (run, line) from write_lines, if it wrote it


def read_topic(config: StackConfig, topic: str, timeout_s: float = 60.0) -> Iterator[KafkaRecord]:
    """Every record of `topic`, from the start to the end offsets seen when reading began."""
    consumer = Consumer(
        {
            "bootstrap.servers": config.bootstrap,
            "group.id": f"pageviews-readback-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            # Read only committed records of transactional producers (Flink's exactly-once sink).
            "isolation.level": "read_committed",
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics[topic]
        if metadata.error is not None:
            raise ServiceError(f"cannot read topic {topic}: {metadata.error}")
        ends: dict[int, int] = {}
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            if high > low:
                ends[partition] = high
        if not ends:
            return
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        remaining = set(ends)
        while remaining:
            message = consumer.poll(timeout_s)
            if message is None:
                raise ServiceTimeout(f"no record from {topic} for {timeout_s:.0f}s while reading")
            error = message.error()
            partition = message.partition() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(partition)
                    continue
                raise ServiceError(f"reading {topic}: {error}")
            offset = message.offset() or 0
            if offset < ends[partition]:
                timestamp_ms = message.timestamp()[1]
                key, value = message.key(), message.value()
                position = _position(message.headers())
                yield KafkaRecord(topic, partition, offset, timestamp_ms, key, value, position)
            if offset + 1 >= ends[partition]:
                remaining.discard(partition)
    finally:
        consumer.close()


def event_line(record_type: str, value: bytes) -> str | None:
    """A page view or user session as an input line (the topic's value lacks `type`)."""
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    return orjson.dumps({"type": record_type, **body}).decode()


def user_line(value: bytes | None) -> str | None:
    """A Debezium change as a user record line; None for tombstones and non-changes."""
    if value is None:
        return None
    change: Any = orjson.loads(value)
    if isinstance(change, dict) and "payload" in change and "op" not in change:
        change = change["payload"]  # a JsonConverter with schemas on wraps the envelope
    op = change.get("op")
    if op in ("c", "u", "r") and change.get("after"):
        after = change["after"]
        return orjson.dumps(
            {"type": "user", "op": "upsert", **{f: after.get(f) for f in USER_FIELDS}}
        ).decode()
    if op == "d" and change.get("before"):
        before = change["before"]
        return orjson.dumps(
            {
                "type": "user",
                "op": "delete",
                "user_id": before["user_id"],
                "updated_at": before["updated_at"],
            }
        ).decode()
    return None


def _position(headers: Any) -> tuple[int, int] | None:
    for name, value in headers or []:
        if name == POSITION_HEADER and isinstance(value, bytes):
            run, _, line = value.decode().partition(":")
            return int(run), int(line)
    return None


def _event_ms(line: str) -> int:
    """The event time of an event line; invalid ones never lead (they move no watermark)."""
    record = orjson.loads(line)
    for field in ("event_timestamp", "login_timestamp"):
        if isinstance(record, dict) and field in record:
            return timestamp_ms(record[field]) or -1
    return -1


def arrival_lines(config: StackConfig) -> list[str]:
    """Every page view, user session and user change in the stack, as input lines.

    Events come in input order (the position header), else in the order Kafka stamped them.
    Users come through CDC, whose timestamps say little about when the change was written;
    each change is placed just before the first event whose running-max event time reaches
    its `updated_at`. So it is there before any page view it could join, and it moves the
    watermark no earlier than the events around it would.
    """
    topics = config.topics
    events: list[tuple[tuple[int, ...], str]] = []
    for topic, record_type in ((topics.pageviews, "pageview"), (topics.sessions, "usersession")):
        for record in read_topic(config, topic):
            line = None if record.value is None else event_line(record_type, record.value)
            if line is None:
                continue
            if record.position is not None:
                order: tuple[int, ...] = (0, *record.position)
            else:
                order = (1, record.timestamp_ms, record.partition, record.offset)
            events.append((order, line))
    events.sort()
    running_max: list[int] = []
    newest = -1
    for _, line in events:
        newest = max(newest, _event_ms(line))
        running_max.append(newest)
    placed: list[tuple[int, int, int, int, str]] = [
        (index, 1, 0, 0, line) for index, (_, line) in enumerate(events)
    ]
    for record in read_topic(config, topics.users):
        line = user_line(record.value)
        if line is None:
            continue
        updated_ms = timestamp_ms(orjson.loads(line)["updated_at"]) or -1
        index = bisect.bisect_left(running_max, updated_ms)
        placed.append((index, 0, record.partition, record.offset, line))
    placed.sort()
    return [entry[-1] for entry in placed]
