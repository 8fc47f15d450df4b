"""The Flink job on the real stack against the embedded engine, on the same generated lines.

The test starts its own stack (Kafka, MariaDB, Connect, Flink) in a tmp dir; a service that
cannot start fails it. Ports come from the environment (PAGEVIEWS_*), as for `stack up`.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest
from confluent_kafka import Producer

from helpers import pageviews
from pageviews.model import reasons
from pageviews.model.records import (
    BLANK_CHARACTERS,
    MAX_JSON_DEPTH,
    MAX_LINE_BYTES,
    PAGEVIEW,
    USERSESSION,
)
from pageviews.sources.generator import GeneratorConfig, generate_lines
from pageviews.stack import flink_job
from pageviews.stack.config import StackConfig
from pageviews.stack.produce import EventProducer, UserWriter, write_lines
from pageviews.stack.services import flink, kafka
from pageviews.store.duckdb_store import DB_FILE
from pageviews.validation import json_text
from pageviews.validation.record import InvalidRecord, timestamp_ms, validate, validate_line
from stack_helpers import SHORT_WINDOWS as WINDOWS
from stack_helpers import consumer_from_start, in_order_user_changes, running_stack

pytestmark = pytest.mark.timeout(1200)

GENERATOR = GeneratorConfig(
    seed=7, events=3_000, users=40, lateness_ms=2_000, late_fraction=0.0, malformed_fraction=0.0
)
SENTINEL_USER = 10**12  # written last to MariaDB: once CDC shows it, all user changes are in


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackConfig]:
    with running_stack(tmp_path_factory, "stack") as config:
        yield config


def _read_topic(config: StackConfig, topic: str, idle_s: float = 4.0) -> list[tuple[Any, Any]]:
    """Every (key, value) of a topic, as JSON, read from the start until it has been quiet."""
    consumer = consumer_from_start(config, topic)
    out: list[tuple[Any, Any]] = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            last = time.monotonic()
            key, value = message.key(), message.value()
            out.append(
                (
                    None if key is None else orjson.loads(key),
                    None if value is None else orjson.loads(value),
                )
            )
    finally:
        consumer.close()
    return out


def _upserted(config: StackConfig, topic: str) -> list[dict[str, Any]]:
    """The current value per key of an upsert topic (tombstones remove the key)."""
    latest: dict[bytes, Any] = {}
    for key, value in _read_topic(config, topic):
        latest[orjson.dumps(key, option=orjson.OPT_SORT_KEYS)] = value
    return [v for v in latest.values() if v is not None]


def _wait_for_sentinel(config: StackConfig, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for _key, value in _read_topic(config, config.topics.users, idle_s=2.0):
            after = (value or {}).get("after") or {}
            if after.get("user_id") == SENTINEL_USER:
                return
        time.sleep(1.0)
    raise AssertionError("CDC did not deliver the sentinel user")


def _embedded(tmp: Path, lines: list[str]) -> dict[str, set[tuple[Any, ...]]]:
    """Results of `pageviews run` on the same lines, times as epoch ms."""
    source = tmp / "input.jsonl"
    source.write_text("\n".join(lines) + "\n")
    data = tmp / "data"
    flags = {
        "--lateness": WINDOWS.lateness_ms,
        "--tumbling": WINDOWS.tumbling_ms,
        "--hop-size": WINDOWS.hopping_size_ms,
        "--hop-step": WINDOWS.hopping_step_ms,
        "--session-gap": WINDOWS.session_gap_ms,
        "--user-session-gap": WINDOWS.user_session_gap_ms,
        "--country-window": WINDOWS.country_ms,
    }
    args = [a for flag, ms in flags.items() for a in (flag, f"{ms}ms")]
    pageviews("run", "--input", str(source), "--no-dashboard", "--data-dir", str(data), *args)
    con = duckdb.connect(str(data / DB_FILE), read_only=True)
    ms = "epoch_ms(window_start), epoch_ms(window_end)"
    queries = {
        "pageview_tumbling": f"SELECT {ms}, source, pageview_count, user_count, is_final "  # noqa: S608 - our own columns
        "FROM pageview_tumbling",
        "pageview_hopping": f"SELECT {ms}, source, pageview_count, user_count, is_final "  # noqa: S608 - our own columns
        "FROM pageview_hopping",
        "pageview_session": f"SELECT {ms}, source, pageview_count, user_count, is_final "  # noqa: S608 - our own columns
        "FROM pageview_session",
        "user_sessions": f"SELECT user_id, {ms}, pageview_count, is_final FROM user_sessions",  # noqa: S608 - our own columns
        "pageview_country": f"SELECT {ms}, country, pageview_count, user_count, "  # noqa: S608 - our own columns
        "round(average_age, 6), is_final FROM pageview_country",
        "cleaned_users": "SELECT user_id, age, gender, country, subscription, "
        "epoch_ms(updated_at) FROM cleaned_users",
        "sessions_by_device": f"SELECT {ms}, device, login_count, user_count, is_final "  # noqa: S608 - our own columns
        "FROM sessions_by_device",
        "late_events": "SELECT view, epoch_ms(window_start) FROM late_events",
    }
    try:
        return {name: set(con.execute(sql).fetchall()) for name, sql in queries.items()}
    finally:
        con.close()


def _flink_results(config: StackConfig) -> dict[str, set[tuple[Any, ...]]]:
    t = config.topics
    fixed = ("window_start", "window_end", "source", "pageview_count", "user_count", "is_final")
    out = {
        name: {tuple(r[c] for c in fixed) for r in _upserted(config, topic)}
        for name, topic in (
            ("pageview_tumbling", t.result("pageview_tumbling")),
            ("pageview_hopping", t.result("pageview_hopping")),
            ("pageview_session", t.result("pageview_session")),
        )
    }
    out["user_sessions"] = {
        (r["user_id"], r["window_start"], r["window_end"], r["pageview_count"], r["is_final"])
        for r in _upserted(config, t.result("user_sessions"))
    }
    out["pageview_country"] = {
        (
            r["window_start"],
            r["window_end"],
            r["country"],
            r["pageview_count"],
            r["user_count"],
            None if r["average_age"] is None else round(r["average_age"], 6),
            r["is_final"],
        )
        for r in _upserted(config, t.result("pageview_country"))
    }
    out["cleaned_users"] = {
        (r["user_id"], r["age"], r["gender"], r["country"], r["subscription"], r["updated_at"])
        for r in _upserted(config, t.result("cleaned_users"))
        if not r["deleted"] and r["user_id"] != SENTINEL_USER
    }
    out["sessions_by_device"] = {
        tuple(r[c] for c in ("window_start", "window_end", "device", "login_count", "user_count"))
        + (r["is_final"],)
        for r in _upserted(config, t.result("sessions_by_device"))
    }
    out["late_events"] = {
        (v["view"], v["window_start"]) for _k, v in _read_topic(config, t.late_events)
    }
    return out


def _produce_raw(config: StackConfig, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": config.bootstrap, "acks": "all"})
    for value in values:
        producer.produce(topic, value=value)
    assert producer.flush(30) == 0


@pytest.fixture(scope="module")
def dataset(
    stack: StackConfig, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[str], dict[str, set[tuple[Any, ...]]], str]:
    """Generated lines written to the stack (plus bad records), and the embedded results."""
    lines = in_order_user_changes(generate_lines(GENERATOR))
    stats = write_lines(stack, lines)
    assert stats.produced > 2_000
    users = UserWriter(stack)
    users.write(
        {
            "type": "user",
            "op": "upsert",
            "user_id": SENTINEL_USER,
            "age": 1,
            "gender": "X",
            "country": "ZZ",
            "subscription": "Gold",
            "updated_at": "2025-01-01 00:00:00",
        }
    )
    users.close()
    tag = uuid.uuid4().hex
    _produce_raw(stack, stack.topics.pageviews, _bad_records(tag))
    # A user session that did not come through our producer is checked by the job too. Its
    # time is the data's earliest, so it moves no watermark ahead.
    bad_login = {"session_id": tag, "user_id": 1, "user_name": "u", "device": "Fridge"}
    bad_login["login_timestamp"] = GENERATOR.start_ms
    _produce_raw(stack, stack.topics.sessions, [orjson.dumps(bad_login)])
    _wait_for_sentinel(stack)
    return lines, _embedded(tmp_path_factory.mktemp("embedded"), lines), tag


def _own_topics(stack: StackConfig, suffix: str) -> StackConfig:
    """The stack with fresh page-view, result, late and dead-letter topics (users shared)."""
    config = replace(stack, topics=stack.topics.with_suffix(suffix))
    kafka.ensure_topics(config)
    return config


def _bad_records(tag: str) -> list[bytes]:
    def pageview(**fields: Any) -> bytes:
        base = {"session_id": tag, "user_id": 1, "source": "Inbox"}
        return orjson.dumps(base | fields)

    return [
        f"not json {tag}".encode(),
        pageview(source="Twitter", event_timestamp="2026-01-01 00:00:01"),
        pageview(event_timestamp="2026-02-30 00:00:01"),
        pageview(user_id="1", event_timestamp=1),
        pageview(user_id=[7], event_timestamp="2026-01-01 00:00:01"),
    ]


def _assert_same(expected: dict[str, set[Any]], actual: dict[str, set[Any]]) -> None:
    for table, rows in expected.items():
        missing, extra = rows - actual[table], actual[table] - rows
        assert not missing and not extra, (
            f"{table}: {len(missing)} missing, {len(extra)} extra; "
            f"missing {sorted(missing, key=repr)[:5]}, extra {sorted(extra, key=repr)[:5]}"
        )
        if table not in ("cleaned_users", "late_events"):
            assert rows, f"{table}: no rows to compare"


def test_bounded_job_matches_embedded_engine(
    stack: StackConfig, dataset: tuple[list[str], dict[str, set[Any]], str]
) -> None:
    lines, expected, tag = dataset
    started = time.monotonic()
    job_id = flink_job.submit_job(stack, WINDOWS, bounded=True, group_id=f"test-{tag}")
    submitted = time.monotonic()
    assert flink_job.wait_finished(stack, job_id, timeout_s=900) == "FINISHED"
    details = flink_job.job_details(stack, job_id)
    print(
        f"flink: submit {submitted - started:.1f}s, job {details['duration'] / 1000:.1f}s "
        f"for {len(lines)} lines; RSS "
        + ", ".join(f"{s.name} {s.rss_mb():.0f} MB" for s in flink.services(stack) if s.rss_mb())
    )
    _assert_same(expected, _flink_results(stack))

    dead = [
        v for _k, v in _read_topic(stack, stack.topics.dead_letters) if tag in str(v.get("raw", ""))
    ]
    reasons = sorted(v["reason"] for v in dead)
    assert len(dead) == 6, reasons
    assert any("not valid JSON" in r for r in reasons)
    assert any("'source' is" in r and "expected one of" in r for r in reasons)
    assert any("cannot parse timestamp" in r for r in reasons)
    assert sum("'user_id' must be an integer" in r for r in reasons) == 2
    assert any(r.endswith("got [7]") for r in reasons)
    assert any("'device' is" in r and "expected one of" in r for r in reasons)


def test_the_same_job_again_runs_from_its_compiled_plan_with_the_same_results(
    stack: StackConfig, dataset: tuple[list[str], dict[str, set[Any]], str]
) -> None:
    """A job submitted again (another consumer group) loads the plan that an earlier
    submission compiled and kept, instead of planning again, and computes the same tables."""
    _lines, expected, tag = dataset
    group = f"again-{tag}"
    plan = Path(flink_job.job_request(stack, WINDOWS, True, "pageviews", group)["plan_file"])
    first = flink_job.submit_job(stack, WINDOWS, bounded=True, group_id=f"{group}-1")
    assert flink_job.wait_finished(stack, first, timeout_s=900) == "FINISHED"
    assert plan.exists()
    kept = plan.stat().st_ino
    again = flink_job.submit_job(stack, WINDOWS, bounded=True, group_id=f"{group}-2")
    assert flink_job.wait_finished(stack, again, timeout_s=900) == "FINISHED"
    assert plan.stat().st_ino == kept  # loaded; planning again would have replaced the file
    _assert_same(expected, _flink_results(stack))


def test_bounded_job_at_parallelism_2_matches_embedded_engine(
    stack: StackConfig, dataset: tuple[list[str], dict[str, set[Any]], str]
) -> None:
    """The same replay (nothing late in it) at parallelism 2, on 2 slots, into results topics
    of its own: the same tables as the embedded engine."""
    _lines, expected, tag = dataset
    results = {table: f"{topic}-p2-equal" for table, topic in stack.topics.results.items()}
    config = replace(
        stack,
        topics=replace(stack.topics, results=results),
        flink=stack.flink.model_copy(update={"parallelism": 2}),
    )
    kafka.ensure_topics(config)
    job_id = flink_job.submit_job(config, WINDOWS, bounded=True, group_id=f"p2-{tag}")
    assert flink_job.wait_finished(config, job_id, timeout_s=900) == "FINISHED"
    details = flink_job.job_details(config, job_id)
    assert {vertex["parallelism"] for vertex in details["vertices"]} >= {2}
    _assert_same(expected, _flink_results(config))


def test_taskmanager_killed_mid_job_same_results(
    stack: StackConfig,
    dataset: tuple[list[str], dict[str, set[Any]], str],
    tmp_path: Path,
) -> None:
    """SIGKILL the TaskManager after a checkpoint; a new one resumes and the results match.

    The page views go to fresh topics, with fresh result topics; the users (CDC) are shared.
    The dataset's page views are repeated, each copy later than the one before, so that the
    job is still running after its first checkpoint (it reads the dataset in about a second)."""
    lines, _expected, tag = dataset
    pageviews: list[dict[str, Any]] = []
    for line in lines:
        try:
            record = orjson.loads(line)
            if validate(record) is PAGEVIEW:
                pageviews.append(record)
        except (orjson.JSONDecodeError, InvalidRecord):
            continue
    times = [timestamp_ms(r["event_timestamp"]) or 0 for r in pageviews]
    span_ms = (max(times) - min(times)) // WINDOWS.hopping_size_ms * WINDOWS.hopping_size_ms
    span_ms += 2 * WINDOWS.hopping_size_ms  # whole windows apart, and past every session gap
    # Every copy after the dataset's own time, so none is late behind its user changes.
    copies = [
        r | {"event_timestamp": t + copy * span_ms}
        for copy in range(1, 31)
        for r, t in zip(pageviews, times, strict=True)
    ]
    config = _own_topics(stack, "kill")
    producer = EventProducer(config)
    for record in copies:
        producer.send(record)
    producer.flush()
    # The embedded engine on the same input: the dataset's other lines in order, then the copies.
    others = [line for line in lines if '"type":"pageview"' not in line.replace(" ", "")]
    expected = _embedded(tmp_path, others + [orjson.dumps(r).decode() for r in copies])

    job_id = flink_job.submit_job(config, WINDOWS, bounded=True, group_id=f"kill-{tag}")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        checkpoints = flink.rest(config, "GET", f"/jobs/{job_id}/checkpoints")
        if checkpoints["counts"]["completed"] >= 1:
            break
        time.sleep(0.5)
    assert flink_job.job_status(config, job_id) == "RUNNING", "finished before the kill"
    taskmanager = flink.services(config)[1]
    pid = taskmanager.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    flink.start_taskmanager(config)
    assert flink_job.wait_finished(config, job_id, timeout_s=900) == "FINISHED"
    history = flink.rest(config, "GET", f"/jobs/{job_id}/exceptions")["exceptionHistory"]
    assert history["entries"], "the job never noticed the lost TaskManager"
    _assert_same(expected, _flink_results(config))


def test_late_page_view_goes_to_late_topic_and_is_not_counted(stack: StackConfig) -> None:
    """A live job: once every partition's watermark has passed a window, a page view for it
    lands in the late topic (one row per view and window it missed) and in no count; the job
    keeps running and still counts the page view that follows on time."""
    config = _own_topics(stack, "late")
    tag = uuid.uuid4().hex
    job_id = flink_job.submit_job(config, WINDOWS, bounded=False, group_id=f"late-{tag}")
    try:
        base_ms = 1_767_225_600_000  # 2026-01-01 00:00:00, a tumbling boundary
        producer = Producer({"bootstrap.servers": config.bootstrap, "acks": "all"})

        def send(partition: int, session: str, t_ms: int) -> None:
            value = {
                "session_id": session,
                "user_id": 1,
                "source": "Inbox",
                "event_timestamp": t_ms,
            }
            producer.produce(config.topics.pageviews, orjson.dumps(value), partition=partition)

        # Every partition reaches 100 s, so W = 100 s - lateness (2 s) everywhere.
        for partition in range(config.topics.partitions):
            send(partition, f"{tag}-early", base_ms + 100_000)
        assert producer.flush(30) == 0
        tumbling = config.topics.result("pageview_tumbling")
        deadline = time.monotonic() + 300
        while not any(
            v.get("window_start") == base_ms + 100_000 for v in _upserted(config, tumbling)
        ):
            assert time.monotonic() < deadline, "the early page views were never counted"
            time.sleep(2)
        time.sleep(2)  # a few watermark intervals (200 ms) after they were processed
        send(0, f"{tag}-late", base_ms + 1_000)  # windows [0, 5 s), [-5 s, 5 s), [0, 10 s)
        send(1, f"{tag}-on-time", base_ms + 99_000)
        assert producer.flush(30) == 0

        late: set[tuple[str, int]] = set()
        while time.monotonic() < deadline:
            late = {
                (v["view"], v["window_start"])
                for _k, v in _read_topic(config, config.topics.late_events)
                if f"{tag}-late" in v["raw"]
            }
            if len(late) >= 6:
                break
            time.sleep(2)
        assert late == {
            ("pageview_tumbling", base_ms),
            ("pageview_country", base_ms),
            ("pageview_hopping", base_ms - 5_000),
            ("pageview_hopping", base_ms),
            ("pageview_session", base_ms + 1_000),
            ("user_sessions", base_ms + 1_000),
        }
        assert flink_job.job_status(config, job_id) == "RUNNING"
        rows = _upserted(config, tumbling)
        assert not [r for r in rows if r["window_start"] == base_ms], rows
        on_time = [r for r in rows if r["window_start"] == base_ms + 95_000]
        assert [r["pageview_count"] for r in on_time] == [1], rows
    finally:
        flink_job.cancel_job(config, job_id)


def _is_valid(record: dict[str, Any]) -> bool:
    try:
        validate(record)
    except InvalidRecord:
        return False
    return True


def _topic_reason(raw: str) -> str | None:
    """The model's verdict on a record of the page-view topic (the topic gives its type)."""
    if len(raw.encode()) > MAX_LINE_BYTES:
        return reasons.LINE_TOO_LONG.text()
    try:
        record = json_text.parse(raw) if raw.strip(BLANK_CHARACTERS) else None
    except json_text.NotJson:
        record = None
    try:
        if isinstance(record, dict):
            validate(record | {"type": PAGEVIEW.name})
        else:
            validate_line(raw)
    except InvalidRecord as refusal:
        return str(refusal)
    return None


def _nested_extra(record: dict[str, Any], depth: int) -> str:
    """The record with a field nested so that the line is `depth` levels deep."""
    inner = depth - 1
    return orjson.dumps(record).decode()[:-1] + ',"extra":' + "[" * inner + "]" * inner + "}"


def test_records_of_other_clients_are_checked_in_full(stack: StackConfig) -> None:
    """Records written straight to the topic, not in our producer's canonical form: the valid
    ones are counted, each invalid one is a dead letter with the model's reason, and strict
    JSON (Python's json module) is the judge of what is JSON."""
    config = _own_topics(stack, "foreign")
    tag = uuid.uuid4().hex
    t_ms = 1_767_225_601_000  # 2026-01-01 00:00:01, in the tumbling window [0 s, 5 s)
    canonical = {"session_id": f"{tag}-0", "user_id": 1, "source": "Inbox", "event_timestamp": t_ms}
    valid = [
        orjson.dumps(canonical).decode(),  # the canonical form, from another client
        orjson.dumps(canonical).decode() + "\n",
        orjson.dumps(canonical | {"session_id": f"{tag}-é😀"}).decode(),  # canonical, not ASCII
        orjson.dumps({"type": "pageview", **canonical, "session_id": f"{tag}-1"}).decode(),
        f'{{ "event_timestamp" : "2026-01-01 00:00:01", "source": "Inbox", "user_id": 2, '
        f'"session_id": "{tag}-2" }}',
        orjson.dumps(canonical | {"session_id": f'{tag}-"3"'}).decode(),
        f'{{"session_id":"{tag}-\\u00e9","user_id":3,"source":"Inbox",'
        f'"event_timestamp":"2026-01-01T00:00:01.000Z"}}',
        _nested_extra(canonical | {"session_id": f"{tag}-4"}, MAX_JSON_DEPTH),
    ]
    invalid = [
        orjson.dumps(canonical).decode()[:-1] + ",}",  # trailing comma
        orjson.dumps(canonical).decode().replace('"user_id":1', '"user_id":NaN'),
        orjson.dumps(canonical).decode().replace('"user_id":1', '"user_id":Infinity'),
        orjson.dumps(canonical).decode().replace('"user_id":1', '"user_id":01'),
        orjson.dumps(canonical | {"user_id": -1}).decode(),
        orjson.dumps(canonical | {"source": "Fax"}).decode(),
        orjson.dumps(
            canonical | {"event_timestamp": int(time.time() * 1000) + 3 * 86_400_000}
        ).decode(),
        orjson.dumps(canonical | {"event_timestamp": 1_000}).decode(),
        orjson.dumps(canonical | {"event_timestamp": "2026-01-01 00:00:01\n"}).decode(),
        f'["{tag}"]',
        _nested_extra(canonical, MAX_JSON_DEPTH + 1),
        orjson.dumps(canonical | {"session_id": tag + "x" * 200_000}).decode(),
    ]
    blank = "\x0b\x0c\x0b"  # blank by the model's list of blank characters, not JSON's
    assert all(_topic_reason(line) is None for line in valid)
    # A dead letter keeps the first MAX_LINE_BYTES characters of a record.
    expected_dead = {(line[:MAX_LINE_BYTES], _topic_reason(line)) for line in [*invalid, blank]}
    assert all(reason is not None for _line, reason in expected_dead)
    assert (blank, "empty line") in expected_dead
    _produce_raw(config, config.topics.pageviews, [line.encode() for line in valid + invalid])
    _produce_raw(config, config.topics.pageviews, [blank.encode()])

    job_id = flink_job.submit_job(config, WINDOWS, bounded=True, group_id=f"foreign-{tag}")
    assert flink_job.wait_finished(config, job_id, timeout_s=900) == "FINISHED"

    rows = [
        r
        for r in _upserted(config, config.topics.result("pageview_tumbling"))
        if r["window_start"] == t_ms - 1_000 and r["source"] == "Inbox"
    ]
    assert [(r["pageview_count"], r["is_final"]) for r in rows] == [(len(valid), True)], rows
    dead = {
        (v["raw"], v["reason"])
        for _k, v in _read_topic(config, config.topics.dead_letters)
        if tag in v["raw"] or v["raw"] == blank
    }
    assert dead == expected_dead


def _records(config: StackConfig, topic: str) -> list[tuple[int, int, dict[str, Any]]]:
    """Every record of a topic as (partition, offset, value), read from the start."""
    consumer = consumer_from_start(config, topic)
    out: list[tuple[int, int, dict[str, Any]]] = []
    last = time.monotonic()
    try:
        while time.monotonic() - last < 4.0:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            last = time.monotonic()
            value, partition, offset = message.value(), message.partition(), message.offset()
            assert value is not None and partition is not None and offset is not None
            out.append((partition, offset, orjson.loads(value)))
    finally:
        consumer.close()
    return out


def test_at_parallelism_2_every_page_view_is_counted_or_late_once(
    stack: StackConfig,
) -> None:
    """The generator's default data (late records and all) at parallelism 2: per view, each
    valid page view is counted in a window or reported late for it, never both, never neither.
    Tumbling and hopping windows are checked window by window against the late reports."""
    config = _own_topics(stack, "p2-once")
    config = replace(config, flink=config.flink.model_copy(update={"parallelism": 2}))
    # Users reach Kafka by CDC, into the users topic the other tests share: events only.
    lines = [
        line
        for line in generate_lines(GeneratorConfig(seed=11, events=20_000))
        if not line.startswith('{"type":"user"')
    ]
    write_lines(config, lines)
    job_id = flink_job.submit_job(config, WINDOWS, bounded=True, group_id=f"p2-{uuid.uuid4()}")
    assert flink_job.wait_finished(config, job_id, timeout_s=900) == "FINISHED"
    assert flink_job.job_details(config, job_id)["vertices"][0]["parallelism"] == 2

    pageviews = _records(config, config.topics.pageviews)
    # The user-session topic is shared, and holds an invalid login of the dataset's too.
    logins = [
        record
        for record in _records(config, config.topics.sessions)
        if _is_valid({"type": USERSESSION.name, **record[2]})
    ]
    late: dict[str, list[tuple[int, int, int]]] = {}
    for _key, row in _read_topic(config, config.topics.late_events):
        late.setdefault(row["view"], []).append(
            (row["event_partition"], row["event_offset"], row["window_start"])
        )
    assert late.get("pageview_tumbling"), "the default data has late page views"
    for view, reports in late.items():
        assert len(reports) == len(set(reports)), f"{view}: a page view reported late twice"

    def counts(table: str, key: str, measure: str) -> dict[tuple[Any, int], int]:
        rows = _upserted(config, config.topics.result(table))
        assert all(r["is_final"] for r in rows), table
        return {(r[key], r["window_start"]): r[measure] for r in rows}

    # Tumbling and hopping: each page view's windows, less those it was reported late for.
    def tumbling(ms: int) -> list[int]:
        return [ms - ms % WINDOWS.tumbling_ms]

    def hopping(ms: int) -> list[int]:
        step = WINDOWS.hopping_step_ms
        return [ms - ms % step - k * step for k in range(WINDOWS.hopping_size_ms // step)]

    windows_of: dict[str, Callable[[int], list[int]]] = {
        "pageview_tumbling": tumbling,
        "pageview_hopping": hopping,
    }
    for view, windows in windows_of.items():
        late_for = set(late.get(view, []))
        expected: dict[tuple[Any, int], int] = {}
        for partition, offset, record in pageviews:
            for start in windows(record["event_timestamp"]):
                if (partition, offset, start) not in late_for:
                    key = (record["source"], start)
                    expected[key] = expected.get(key, 0) + 1
        assert counts(view, "source", "pageview_count") == expected, view

    # The other views: counted + late = valid, in total.
    totals: dict[str, tuple[int, str, str]] = {
        "pageview_country": (len(pageviews), "country", "pageview_count"),
        "pageview_session": (len(pageviews), "source", "pageview_count"),
        "sessions_by_device": (len(logins), "device", "login_count"),
    }
    for view, (valid, column, measure) in totals.items():
        total = sum(counts(view, column, measure).values())
        assert total + len(late.get(view, [])) == valid, view
    user_rows = _upserted(config, config.topics.result("user_sessions"))
    counted = sum(r["pageview_count"] for r in user_rows)
    assert counted + len(late.get("user_sessions", [])) == len(pageviews)
