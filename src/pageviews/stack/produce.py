"""Writers into the stack: page views and sessions to Kafka, user changes to MariaDB.

Users reach Kafka only through CDC: this module never produces to the users topic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

from pageviews.errors import DeliveryError
from pageviews.model.canonical import canonical_record
from pageviews.model.records import (
    PAGEVIEW,
    USER_DELETE,
    USER_UPSERT,
    USERSESSION,
    RecordType,
    dead_letter_raw,
)
from pageviews.stack.config import StackConfig
from pageviews.stack.services import mariadb
from pageviews.validation.record import (
    InvalidRecord,
    timestamp_ms,
    to_sql_datetime,
    validate,
    validate_line,
)

UPSERT_SQL = (
    "INSERT INTO Users (user_id, age, gender, country, subscription, updated_at) "
    "VALUES (%s, %s, %s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE age = VALUES(age), gender = VALUES(gender), "
    "country = VALUES(country), subscription = VALUES(subscription), "
    "updated_at = VALUES(updated_at)"
)
# A delete first stamps the row with the delete's time, so that the CDC delete event's
# before-image carries when the delete happened: downstream joins need it as a version time.
STAMP_SQL = "UPDATE Users SET updated_at = %s WHERE user_id = %s"
DELETE_SQL = "DELETE FROM Users WHERE user_id = %s"


# Header on every event that write_lines produces: "<run start ms>:<line number>". Kafka keeps
# no order across partitions; this lets `check` replay the events in their input order.
POSITION_HEADER = "pageviews-position"


class EventProducer:
    """Validated records to Kafka in their canonical form (model/canonical.py): acks=all,
    idempotent, keyed by session_id."""

    def __init__(self, config: StackConfig, extra: dict[str, Any] | None = None) -> None:
        self.config = config
        self.acked = 0
        self.failed: list[str] = []
        self.on_ack: Callable[[Message], None] | None = None
        self.producer = Producer(
            {
                "bootstrap.servers": config.bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "compression.type": "lz4",
                **(extra or {}),
            }
        )
        self.topics = {
            PAGEVIEW.name: config.topics.pageviews,
            USERSESSION.name: config.topics.sessions,
        }

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failed.append(str(error))
            return
        self.acked += 1
        if self.on_ack is not None:
            self.on_ack(message)

    def send(
        self, record: Any, rtype: RecordType | None = None, position: str | None = None
    ) -> None:
        """Validate (unless the caller did: `rtype`), then produce; raises InvalidRecord
        before anything is sent."""
        rtype = rtype or validate(record)
        topic = self.topics.get(rtype.name)
        if topic is None:
            raise InvalidRecord(
                f"{rtype.label} records go to MariaDB (and reach Kafka by CDC), not to Kafka"
            )
        event_ms = timestamp_ms(record[rtype.event_time])
        assert event_ms is not None  # validated
        value = canonical_record(record, rtype, event_ms)
        headers: list[tuple[str, str | bytes | None]] | None = None
        if position is not None:
            headers = [(POSITION_HEADER, position.encode())]
        self._produce(topic, value, record["session_id"].encode(), headers)

    def send_dead_letter(self, raw: str, reason: str) -> None:
        """A refused line goes to the dead-letter topic with its reason: nothing is lost."""
        value = orjson.dumps(
            {
                "raw": dead_letter_raw(raw),
                "reason": reason,
                "received_at": int(time.time() * 1000),
                # Not read from a topic, so no position in one.
                "event_partition": None,
                "event_offset": None,
            }
        )
        self._produce(self.config.topics.dead_letters, value, None)

    def _produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        while True:
            try:
                self.producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._delivered
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.1)
        self.producer.poll(0)

    def flush(self, timeout_s: float = 60.0) -> None:
        remaining = self.producer.flush(timeout_s)
        if remaining or self.failed:
            raise DeliveryError(
                f"{remaining} records unacknowledged, {len(self.failed)} failed"
                + (f"; first error: {self.failed[0]}" if self.failed else "")
            )


class UserWriter:
    """User upserts and deletes as SQL with bound parameters, sent in batches.

    One round trip per statement capped the producer at about 2 000 user changes/s. Changes
    are buffered and sent as runs: consecutive upserts in one multi-row INSERT, consecutive
    deletes in one executemany, so the order of changes is kept.
    """

    def __init__(self, config: StackConfig, batch: int = 200) -> None:
        self.conn = mariadb.connect_app(config)
        self.conn.autocommit(False)
        self.batch = batch
        self.buffer: list[tuple[str, tuple[Any, ...]]] = []
        self.written = 0

    def write(self, record: Any, rtype: RecordType | None = None) -> None:
        rtype = rtype or validate(record)
        if rtype is USER_UPSERT:
            params: tuple[Any, ...] = (
                record["user_id"],
                record.get("age"),
                record.get("gender"),
                record.get("country"),
                record.get("subscription"),
                to_sql_datetime(record["updated_at"]),
            )
            self.buffer.append((UPSERT_SQL, params))
        elif rtype is USER_DELETE:
            stamp = (to_sql_datetime(record["updated_at"]), record["user_id"])
            self.buffer.append((STAMP_SQL, stamp))
            self.buffer.append((DELETE_SQL, (record["user_id"],)))
        else:
            raise InvalidRecord(f"{rtype.label} is not a user change")
        self.written += 1
        if len(self.buffer) >= self.batch:
            self.commit()

    def commit(self) -> None:
        """Send what is buffered, in order, and commit it as one transaction."""
        with self.conn.cursor() as cur:
            start = 0
            while start < len(self.buffer):
                sql = self.buffer[start][0]
                end = start
                while end < len(self.buffer) and self.buffer[end][0] == sql:
                    end += 1
                cur.executemany(sql, [params for _, params in self.buffer[start:end]])
                start = end
        self.conn.commit()
        self.buffer.clear()

    def close(self) -> None:
        self.commit()
        self.conn.close()


@dataclass
class GenerateStats:
    lines: int = 0
    produced: int = 0
    users: int = 0
    refused: int = 0
    refused_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def write_lines(
    config: StackConfig,
    lines: Iterable[str],
    rate: float | None = None,
    progress: Callable[[GenerateStats], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> GenerateStats:
    """Send generated JSONL lines to the stack at `rate` lines/s (None: as fast as possible).

    Lines that do not fit the model are refused: counted, and sent to the dead-letter topic
    with their reason instead of their own topic."""
    stats = GenerateStats()
    run_ms = int(time.time() * 1000)
    producer = EventProducer(config)
    users = UserWriter(config)
    started = time.monotonic()
    last_progress = started
    try:
        for line in lines:
            if should_stop():
                break
            stats.lines += 1
            if rate:
                due = started + stats.lines / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            try:
                rtype, record = validate_line(line)
                if rtype.name == "user":
                    users.write(record, rtype)
                    stats.users += 1
                else:
                    producer.send(record, rtype, f"{run_ms}:{stats.lines}")
                    stats.produced += 1
            except InvalidRecord as error:
                reason = str(error)  # the embedded runtime's reason for the same line
                producer.send_dead_letter(line, reason)
                stats.refused += 1
                short = reason.split(",")[0][:60]
                stats.refused_reasons[short] = stats.refused_reasons.get(short, 0) + 1
            now = time.monotonic()
            if progress is not None and now - last_progress >= 2.0:
                last_progress = now
                users.commit()
                stats.seconds = now - started
                progress(stats)
        users.close()
        producer.flush()
    finally:
        stats.seconds = time.monotonic() - started
    return stats
