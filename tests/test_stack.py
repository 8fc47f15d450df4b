"""The real stack: three Kafka brokers, MariaDB and Connect+Debezium, started by `stack up`.

One module-scoped stack, started and stopped through the same code as the CLI. A service that
cannot start fails these tests; nothing is skipped.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
from confluent_kafka.cimpl import NewTopic

from pageviews.sources.generator import GeneratorConfig, generate_lines
from pageviews.stack import readback
from pageviews.stack.config import StackConfig
from pageviews.stack.produce import EventProducer, UserWriter, write_lines
from pageviews.stack.services import kafka, manager
from pageviews.stack.services.process import ServiceError
from pageviews.validation.record import InvalidRecord, timestamp_ms, validate
from stack_helpers import consumer_from_start, running_stack

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    with running_stack(tmp_path_factory, "stack") as config:
        yield config


def _pageviews(n: int, tag: str) -> list[dict[str, Any]]:
    """N generated page views, each with its own session id so that each can be found again."""
    out: list[dict[str, Any]] = []
    for line in generate_lines(GeneratorConfig(seed=11, events=None, malformed_fraction=0.0)):
        record = orjson.loads(line)
        if record["type"] == "pageview":
            record["session_id"] = f"{tag}-{len(out)}"
            out.append(record)
            if len(out) == n:
                return out
    raise AssertionError("unreachable")


def _consume(
    config: StackConfig, topic: str, keep: Any, want: int, timeout_s: float = 60.0
) -> list[Any]:
    """Read `topic` from the start; collect `keep(message)` results that are not None.

    Stops `want` matches in, after reading on for 3 s more, so duplicates would be seen too."""
    consumer = consumer_from_start(config, topic)
    found: list[Any] = []
    deadline = time.monotonic() + timeout_s
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() > settle_until:
                break
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            item = keep(message)
            if item is not None:
                found.append(item)
                if len(found) >= want and settle_until is None:
                    settle_until = time.monotonic() + 3.0
    finally:
        consumer.close()
    return found


def _session_of(tag: str) -> Any:
    def keep(message: Any) -> Any:
        value = orjson.loads(message.value())
        return value["session_id"] if value["session_id"].startswith(tag + "-") else None

    return keep


def test_up_reports_every_service_healthy(stack: StackConfig) -> None:
    reports = manager.status(stack)
    assert [r.name for r in reports] == [
        "mariadb",
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "connect",
        "flink-jobmanager",
        "flink-taskmanager",
        "pinot-zookeeper",
        "pinot-controller",
        "pinot-broker",
        "pinot-server",
    ]
    assert all(r.healthy for r in reports), reports
    # Idempotent: a second `up` starts nothing.
    again, _ = manager.up(stack, say=lambda text: None)
    assert not any(r.started_now for r in again)
    assert [r.pid for r in again] == [r.pid for r in reports]


LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}


def test_every_service_listens_on_loopback_only(stack: StackConfig) -> None:
    """Every listening socket of every service is on the loopback address, including Pinot
    0.11's server query port, which has no setting for it (services/loopback.py)."""
    listening: dict[str, set[tuple[str, int]]] = {}
    for svc in manager.all_services(stack):
        process = svc.process()
        assert process is not None, f"{svc.name} is not running"
        listening[svc.name] = {
            (c.laddr.ip, c.laddr.port)
            for c in process.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
    exposed = {
        name: sorted(a for a in addrs if a[0] not in LOOPBACK) for name, addrs in listening.items()
    }
    assert not any(exposed.values()), exposed
    assert stack.pinot.server_port in {port for _ip, port in listening["pinot-server"]}


def test_produce_n_pageviews_consume_exactly_n(stack: StackConfig) -> None:
    n = 2_000
    tag = f"rt-{uuid.uuid4().hex[:8]}"
    producer = EventProducer(stack)
    for record in _pageviews(n, tag):
        producer.send(record)
    producer.flush()
    assert producer.acked == n
    seen = _consume(stack, stack.topics.pageviews, _session_of(tag), n)
    assert len(seen) == n
    assert len(set(seen)) == n


def test_user_insert_update_delete_reach_topic_in_order(stack: StackConfig) -> None:
    user_id = int(time.time() * 1000) % 10**12
    writer = UserWriter(stack)
    base = {"type": "user", "op": "upsert", "user_id": user_id, "age": 33, "gender": "F"}
    writer.write(base | {"country": "US", "subscription": "Gold", "updated_at": 1_767_225_600_000})
    writer.commit()
    writer.write(base | {"country": "DE", "subscription": "Gold", "updated_at": 1_767_225_660_000})
    writer.commit()
    writer.write(
        {"type": "user", "op": "delete", "user_id": user_id, "updated_at": 1_767_225_720_000}
    )
    writer.close()

    def keep(message: Any) -> Any:
        if message.key() is None or orjson.loads(message.key()) != {"user_id": user_id}:
            return None
        if message.value() is None:
            return ("tombstone", None, None)
        value = orjson.loads(message.value())
        row = value["after"] or value["before"]
        return (value["op"], row["country"], row["updated_at"])

    changes = _consume(stack, stack.topics.users, keep, 5)
    # The delete stamps the row with its own time first, so its before-image carries it.
    assert [c[0] for c in changes] == ["c", "u", "u", "d", "tombstone"]
    assert [c[1] for c in changes[:4]] == ["US", "DE", "DE", "DE"]
    assert changes[0][2] == "2026-01-01T00:00:00.000Z"
    assert changes[3][2] == "2026-01-01T00:02:00.000Z"


def test_producer_refuses_invalid_record(stack: StackConfig) -> None:
    producer = EventProducer(stack)
    bad = {
        "type": "pageview",
        "session_id": "s1",
        "user_id": "42",
        "source": "Homepage",
        "event_timestamp": "2026-01-01 00:00:00",
    }
    with pytest.raises(InvalidRecord, match=r"field 'user_id' must be an integer"):
        producer.send(bad)
    with pytest.raises(InvalidRecord, match=r"field 'source' is \"Nowhere\", expected one of"):
        producer.send(bad | {"user_id": 42, "source": "Nowhere"})
    with pytest.raises(InvalidRecord, match=r"event_timestamp"):
        producer.send(bad | {"user_id": 42, "event_timestamp": "yesterday"})
    with pytest.raises(InvalidRecord, match="MariaDB"):
        producer.send(
            {"type": "user", "op": "delete", "user_id": 1, "updated_at": "2026-01-01 00:00:00"}
        )
    assert len(producer.producer) == 0  # nothing was queued for Kafka


def test_oversize_and_malformed_lines_are_refused_not_sent(stack: StackConfig) -> None:
    good = orjson.dumps(_pageviews(1, "refuse")[0]).decode()
    oversize = good[:-1] + ',"pad":"' + "x" * 70_000 + '"}'
    tag = uuid.uuid4().hex[:8]
    bad_json = f"not json {tag}"
    not_object = f'["{tag}"]'
    stats = write_lines(stack, [good, oversize, bad_json, not_object])
    assert (stats.produced, stats.refused) == (1, 3)
    assert stats.refused_reasons.get("line is over the 64 KiB limit") == 1

    # Refused lines are not lost: each is on the dead-letter topic with its reason.
    def dead_letter(message: Any) -> Any:
        value = orjson.loads(message.value())
        return (value["raw"], value["reason"]) if tag in value["raw"][:70_000] else None

    letters = dict(_consume(stack, stack.topics.dead_letters, dead_letter, 2))
    assert letters[bad_json] == "not valid JSON"
    assert letters[not_object] == "not a JSON object but an array"


def test_existing_topic_with_wrong_layout_is_an_error(stack: StackConfig) -> None:
    client = kafka.admin(stack)
    name = f"narrow-{uuid.uuid4().hex[:8]}"
    client.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])[name].result()
    with pytest.raises(ServiceError, match=f"topic {name} exists with 1 partitions"):
        kafka.ensure_topics(stack, replace(stack.topics, pageviews=name))


def test_kill_9_broker_under_load_loses_no_acknowledged_event(stack: StackConfig) -> None:
    tag = f"k9-{uuid.uuid4().hex[:8]}"
    producer = EventProducer(stack, {"message.timeout.ms": 120_000})
    acked: set[str] = set()
    producer.on_ack = lambda message: acked.add(
        orjson.loads(message.value() or b"{}")["session_id"]
    )
    stop = threading.Event()
    records = iter(_pageviews(200_000, tag))

    def load() -> None:
        for record in records:
            if stop.is_set():
                break
            producer.send(record)
            time.sleep(0.0005)  # a steady load, not a burst

    thread = threading.Thread(target=load)
    thread.start()
    time.sleep(3)
    victim = kafka.node_service(stack, 2)
    pid = victim.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(8)  # the cluster keeps taking writes with 2 of 3 in sync
    acked_while_down = len(acked)
    kafka.start(stack)
    kafka.wait_healthy(stack)
    time.sleep(3)
    stop.set()
    thread.join()
    producer.flush(120)
    assert acked_while_down > 0
    assert not producer.failed
    seen = set(_consume(stack, stack.topics.pageviews, _session_of(tag), len(acked), 120))
    assert acked - seen == set()


def test_down_up_keeps_topics_data_and_connector_offsets(stack: StackConfig) -> None:
    tag = f"du-{uuid.uuid4().hex[:8]}"
    producer = EventProducer(stack)
    for record in _pageviews(100, tag):
        producer.send(record)
    producer.flush()
    user_id = int(time.time() * 1000) % 10**12 + 7
    writer = UserWriter(stack)
    writer.write(
        {
            "type": "user",
            "op": "upsert",
            "user_id": user_id,
            "age": 40,
            "gender": "M",
            "country": "FR",
            "subscription": "Silver",
            "updated_at": "2026-01-01 00:00:00",
        }
    )
    writer.close()

    def user_events(message: Any) -> Any:
        if message.key() is None or orjson.loads(message.key()) != {"user_id": user_id}:
            return None
        value = message.value()
        return None if value is None else orjson.loads(value)["op"]

    assert _consume(stack, stack.topics.users, user_events, 1) == ["c"]

    stopped = manager.down(stack, say=lambda text: None)
    assert len(stopped) == len(manager.all_services(stack))
    assert all(not r.running for r in manager.status(stack, deep=False))
    manager.up(stack, say=lambda text: None)

    assert set(stack.topics.all()) <= set(kafka.admin(stack).list_topics(timeout=10).topics)
    assert len(set(_consume(stack, stack.topics.pageviews, _session_of(tag), 100))) == 100
    # Offsets were kept: no new snapshot ("r") of the row, and CDC goes on from where it was.
    writer = UserWriter(stack)
    writer.write(
        {"type": "user", "op": "delete", "user_id": user_id, "updated_at": 1_767_225_660_000}
    )
    writer.close()
    # "u": the delete stamps its own time on the row first (see produce.STAMP_SQL).
    assert _consume(stack, stack.topics.users, user_events, 3) == ["c", "u", "d"]


def test_stack_dir_holds_no_password_in_logs(stack: StackConfig) -> None:
    logs = "".join(
        Path(path).read_text(errors="replace")
        for _, path in manager.log_files(stack, None)
        if Path(path).exists()
    )
    for secret in (stack.cdc_password, stack.app_password, stack.mariadb_root_password):
        assert secret.get_secret_value() not in logs


def test_readback_returns_every_event_and_user_change_as_input_lines(stack: StackConfig) -> None:
    # Users far from other tests' ids, so their changes can be picked out of the shared topics.
    base_id = 7_000_000
    lines = []
    for line in generate_lines(GeneratorConfig(seed=23, events=3_000, users=50)):
        record = orjson.loads(line) if line.startswith("{") else None
        if isinstance(record, dict) and isinstance(record.get("user_id"), int):
            record["user_id"] += base_id
            line = orjson.dumps(record).decode()
        lines.append(line)
    stats = write_lines(stack, lines)

    def normal(record: dict[str, Any]) -> tuple[Any, ...]:
        time_field = next(
            k for k in ("event_timestamp", "login_timestamp", "updated_at") if k in record
        )
        fields = {k: v for k, v in record.items() if k != time_field}
        return (tuple(sorted(fields.items())), timestamp_ms(record[time_field]))

    sent_events: list[tuple[Any, ...]] = []
    sent_users: list[tuple[Any, ...]] = []
    for line in lines:
        try:
            record = orjson.loads(line)
            validate(record)
        except (orjson.JSONDecodeError, InvalidRecord):
            continue
        (sent_users if record["type"] == "user" else sent_events).append(normal(record))
    assert len(sent_events) == stats.produced

    deadline = time.monotonic() + 60
    while True:
        back = [orjson.loads(record.line) for record in readback.input_records(stack)]
        users_back = [normal(r) for r in back if r["type"] == "user" and r["user_id"] >= base_id]
        # CDC is asynchronous: wait until every user change is back (a delete's stamp adds one).
        if len(users_back) >= len(sent_users) or time.monotonic() > deadline:
            break
        time.sleep(2)
    events_back = {normal(r) for r in back if r["type"] != "user"}
    assert set(sent_events) <= events_back
    assert set(sent_users) <= set(users_back)
