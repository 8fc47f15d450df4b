"""Read the stack's raw input back from Kafka, as JSONL lines in (approximate) arrival order.

`pageviews check --backend stack` recomputes every result from these lines with the batch
oracle. Page views and user sessions are on their own topics; users come from the Debezium
topic, where each change is turned back into a user record:

    op c / u / r   ->  {"type": "user", "op": "upsert", ...after}
    op d           ->  {"type": "user", "op": "delete", user_id, updated_at of `before`}
    null value     ->  skipped (the tombstone Debezium sends after a delete)

A delete's `before` carries the delete's own time: the writer stamps it first (see
produce.STAMP_SQL).

Kafka has no order across partitions and topics. Lines are ordered by the records' timestamps
(set when produced), then topic, partition and offset: the order in which they reached Kafka,
as near as it can be known.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pageviews.stack.config import StackConfig

USER_FIELDS = ("user_id", "age", "gender", "country", "subscription", "updated_at")


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


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
            raise RuntimeError(f"cannot read topic {topic}: {metadata.error}")
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
                raise TimeoutError(f"no record from {topic} for {timeout_s:.0f}s while reading")
            error = message.error()
            partition = message.partition() or 0
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    remaining.discard(partition)
                    continue
                raise RuntimeError(f"reading {topic}: {error}")
            offset = message.offset() or 0
            if offset < ends[partition]:
                timestamp_ms = message.timestamp()[1]
                key, value = message.key(), message.value()
                yield KafkaRecord(topic, partition, offset, timestamp_ms, key, value)
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


def arrival_lines(config: StackConfig) -> list[str]:
    """Every page view, user session and user change in the stack, as input lines."""
    topics = config.topics
    keyed: list[tuple[int, int, int, int, str]] = []
    sources = [(topics.users, "user"), (topics.pageviews, "pageview")]
    sources.append((topics.sessions, "usersession"))
    for rank, (topic, record_type) in enumerate(sources):
        for record in read_topic(config, topic):
            if record_type == "user":
                line = user_line(record.value)
            else:
                line = None if record.value is None else event_line(record_type, record.value)
            if line is not None:
                keyed.append((record.timestamp_ms, rank, record.partition, record.offset, line))
    keyed.sort()
    return [entry[-1] for entry in keyed]
