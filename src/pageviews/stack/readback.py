"""Read the stack's raw input back from Kafka, as JSONL lines in (approximate) arrival order.

`pageviews check --backend stack` recomputes every result from these lines with the batch
oracle. Page views and user sessions are on their own topics; users come from the Debezium
topic, where each change is turned back into a user record:

    op c / u / r   ->  {"type": "user", "op": "upsert", ...after}
    op d           ->  {"type": "user", "op": "delete", user_id, updated_at of `before`}
    null value     ->  skipped (the tombstone Debezium sends after a delete)

A delete's `before` carries the delete's own time: the writer stamps it first (see
produce.STAMP_SQL).

Kafka has no order across partitions and topics; see input_records for the order used.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pageviews.errors import ServiceError, ServiceTimeout
from pageviews.model.records import MAX_AHEAD_OF_WALL_CLOCK_MS, PAGEVIEW, USERSESSION, RecordType
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


def record_count(config: StackConfig, topic: str, timeout_s: float = 30.0) -> int:
    """How many records `topic` holds now (0 if it does not exist yet)."""
    consumer = Consumer({"bootstrap.servers": config.bootstrap, "group.id": "pageviews-count"})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return 0
        total = 0
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s
            )
            total += high - low
        return total
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


def watermark_ms(value: bytes | None, record_type: RecordType, now_ms: int) -> int | None:
    """The time by which a raw record moves the Flink job's watermark, or None if it moves it
    not: as the job reads it (validation/flink.py `event_ms_in_range`), the record's event time
    if it parses and is at most a day ahead of the clock, whatever its other fields hold."""
    try:
        record = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(record, dict):
        return None
    ms = timestamp_ms(record.get(record_type.event_time))
    return ms if ms is not None and ms <= now_ms + MAX_AHEAD_OF_WALL_CLOCK_MS else None


@dataclass(frozen=True)
class InputRecord:
    """One record of the stack's input as an input line, where it is in Kafka, and the greatest
    watermark time among the records before it in its partition (None: none moved it yet)."""

    line: str
    record_type: str
    partition: int
    offset: int
    prior_max_ms: int | None


def input_records(config: StackConfig) -> list[InputRecord]:
    """Every user change, page view and user session in the stack, in that order, each topic
    in (partition, offset) order.

    The Flink job decides lateness per partition, so no order across partitions is needed:
    `prior_max_ms` bounds the watermark a record met (docs/semantics.md, section 11). Records
    that are no JSON object are left out: they count nowhere and move no watermark.
    """
    topics = config.topics
    records = [
        InputRecord(line, "user", record.partition, record.offset, None)
        for record in _in_partition_order(read_topic(config, topics.users))
        if (line := user_line(record.value)) is not None
    ]
    now_ms = int(time.time() * 1000)
    for topic, record_type in ((topics.pageviews, PAGEVIEW), (topics.sessions, USERSESSION)):
        prior_max: dict[int, int] = {}
        for record in _in_partition_order(read_topic(config, topic)):
            line = None if record.value is None else event_line(record_type.name, record.value)
            if line is not None:
                before = prior_max.get(record.partition)
                records.append(
                    InputRecord(line, record_type.name, record.partition, record.offset, before)
                )
            ms = watermark_ms(record.value, record_type, now_ms)
            if ms is not None:
                prior_max[record.partition] = max(ms, prior_max.get(record.partition, ms))
    return records


def _in_partition_order(records: Iterator[KafkaRecord]) -> list[KafkaRecord]:
    return sorted(records, key=lambda record: (record.partition, record.offset))
