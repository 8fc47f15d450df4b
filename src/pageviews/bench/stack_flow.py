"""The distributed runtime's figures for `pageviews bench --backend stack`.

- Flink job throughput: a bounded job over N generated lines already in Kafka, timed by Flink
  (job start to end). The embedded engine runs the same file on one core in the same run, and
  each is also given per CPU second (the TaskManager's CPU time against the embedded child's).
- End-to-end freshness: a live job; page views stamped with the wall clock are produced at a
  fixed rate, and Pinot is polled until each one is counted in `pageview_tumbling`. An event's
  freshness is (first poll that counts it) - (its produce time).
- Pinot query latency: the dashboard's queries, as Pinot's broker answers them (dashboard/
  queries.py): p50 and p99 per query and per whole dashboard refresh.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from pageviews.config import WindowConfig
from pageviews.dashboard import queries
from pageviews.errors import ServiceTimeout
from pageviews.sources.generator import GeneratorConfig, write_jsonl
from pageviews.sources.inputs import InputSpec
from pageviews.stack import flink_job
from pageviews.stack.config import StackConfig
from pageviews.stack.pinot_sync import pinot_store, served_rows, wait_caught_up
from pageviews.stack.produce import EventProducer, write_lines
from pageviews.stack.readback import read_topic
from pageviews.stack.run import input_lines, live_job, record_job, wait_for_cdc, write_sentinel
from pageviews.stack.services import flink
from pageviews.store.base import QueryResult
from pageviews.store.pinot_store import PinotStore

Say = Callable[[str], None]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def _taskmanager_cpu_s(config: StackConfig) -> float:
    process = flink.services(config)[-1].process()
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


def _embedded_one_core(events_file: Path, windows: WindowConfig) -> dict[str, Any]:
    """The embedded pipeline on the same file, pinned to one core; rate and CPU seconds."""
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        flags = [
            f"--{name}={ms}ms"
            for name, ms in (
                ("lateness", windows.lateness_ms),
                ("tumbling", windows.tumbling_ms),
                ("hop-size", windows.hopping_size_ms),
                ("hop-step", windows.hopping_step_ms),
                ("session-gap", windows.session_gap_ms),
                ("user-session-gap", windows.user_session_gap_ms),
                ("country-window", windows.country_ms),
            )
        ]
        command = [
            sys.executable, "-m", "pageviews.cli", "run", "--input", str(events_file),
            "--no-dashboard", "--quiet", "--threads", "1", "--data-dir", f"{tmp}/d", *flags,
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        subprocess.run(  # noqa: S603 - our own CLI
            command,
            check=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
        )
        wall_s = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall_s, 2), "cpu_s": round(cpu_s, 2)}


def flink_throughput(
    config: StackConfig, events: int, windows: WindowConfig, say: Say
) -> dict[str, Any]:
    """Lines into Kafka first, then a bounded job over them, timed by Flink itself."""
    with tempfile.TemporaryDirectory(prefix="bench-flink-") as tmp:
        events_file = Path(tmp) / "events.jsonl"
        write_jsonl(GeneratorConfig(seed=3, events=events), events_file, None)
        say(f"producing {events:,} lines to Kafka and MariaDB")
        produced = write_lines(config, input_lines(InputSpec("file", path=str(events_file))))
        wait_for_cdc(config, write_sentinel(config))
        say("bounded Flink job over them")
        cpu_before = _taskmanager_cpu_s(config)
        job_id = flink_job.submit_job(config, windows, bounded=True, name="pageviews-bench")
        record_job(config, job_id, windows, bounded=True)
        flink_job.wait_finished(config, job_id, timeout_s=3600)
        cpu_s = _taskmanager_cpu_s(config) - cpu_before
        details = flink_job.job_details(config, job_id)
        job_s = (details["end-time"] - details["start-time"]) / 1000
        # The job reads whole topics, which may hold earlier data too: count what it read.
        read = sum(
            int(vertex["metrics"].get("read-records", 0))
            for vertex in details["vertices"]
            if vertex["name"].startswith(("Source: pageviews_in", "Source: users_in"))
        )
        say("embedded engine on the same file (one core)")
        embedded = _embedded_one_core(events_file, windows)
    flink_rate = read / job_s
    embedded_rate = events / embedded["wall_s"]
    flink_per_cpu_s = read / cpu_s if cpu_s else 0.0
    embedded_per_cpu_s = events / embedded["cpu_s"] if embedded["cpu_s"] else 0.0
    return {
        "lines": events,
        "kafka_events": produced.produced,
        "flink": {
            "records_read": read,
            "job_seconds": round(job_s, 2),
            "events_per_s": round(flink_rate),
            "taskmanager_cpu_s": round(cpu_s, 2),
            "events_per_cpu_s": round(flink_per_cpu_s),
            "parallelism": config.flink.parallelism,
        },
        "embedded": {
            "seconds_with_startup": embedded["wall_s"],
            "events_per_s": round(embedded_rate),
            "cpu_s": embedded["cpu_s"],
            "events_per_cpu_s": round(embedded_per_cpu_s),
            "cores": 1,
        },
        "embedded_to_flink_per_core": round(embedded_per_cpu_s / flink_per_cpu_s, 2)
        if flink_per_cpu_s
        else None,
        "embedded_to_flink_events_per_s": round(embedded_rate / flink_rate, 2)
        if flink_rate
        else None,
    }


def _visible_since(store: PinotStore, since_ms: int) -> int:
    result = store.query(
        "SELECT SUM(pageview_count) FROM pageview_tumbling WHERE window_start >= ?", [since_ms]
    )
    value = result.rows[0][0] if result.rows else None
    return int(value or 0)


def _send_paced(
    producer: EventProducer, count: int, rate: float, tag: str, behind_ms: int = 0
) -> list[float]:
    """Send `count` page views at `rate`, dated the wall clock minus `behind_ms`; when each
    went. Times move on as in a live stream, so the watermark moves with them."""
    sent_at: list[float] = []
    started = time.monotonic()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        producer.send(
            {
                "type": "pageview",
                "session_id": f"{tag}{i}",
                "user_id": i % 1000,
                "source": ("Homepage", "Inbox", "External")[i % 3],
                "event_timestamp": int(time.time() * 1000) - behind_ms,
            }
        )
        sent_at.append(time.monotonic())
    producer.flush()
    return sent_at


def _wait_counted(store: PinotStore, since_ms: int, count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _visible_since(store, since_ms) < count:
        if time.monotonic() > deadline:
            raise ServiceTimeout(f"Pinot did not count {count:,} page views in {timeout_s:.0f} s")
        time.sleep(0.5)


def freshness(
    config: StackConfig, windows: WindowConfig, rate: float, seconds: float, say: Say
) -> dict[str, Any]:
    """Produce wall-clock page views at `rate`; poll Pinot until each one is counted.

    First up to a minute of the same load, dated three tumbling windows earlier, warms the job
    up: a new job spends seconds generating and compiling code, then runs slowly until the JVM
    has compiled the hot paths. Freshness measures the running job, not that start-up."""
    job_id = live_job(config, windows, say)
    store = pinot_store(config)
    # The live job first reads what the topics already hold; start once it has caught up.
    say("waiting for the live job to catch up with the topics")
    wait_caught_up(config, timeout_s=600)
    since_ms = int(time.time() * 1000) // windows.tumbling_ms * windows.tumbling_ms
    count = int(rate * seconds)
    run_tag = f"bench-{since_ms}-"  # marks this run's page views, to find their late rows
    producer = EventProducer(config)
    warmup = int(rate * min(seconds, 60.0))
    say(f"warming the job up: {warmup:,} page views at {rate:,.0f}/s, dated earlier")
    behind_ms = 3 * windows.tumbling_ms
    # A tag of its own: late_rows below counts only the measured page views.
    _send_paced(producer, warmup, rate, f"warmup-{since_ms}-", behind_ms)
    _wait_counted(store, since_ms - behind_ms - windows.tumbling_ms, warmup, timeout_s=600)
    polls: list[tuple[float, int]] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            polls.append((time.monotonic(), _visible_since(store, since_ms)))
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    say(f"producing {count:,} page views at {rate:,.0f}/s")
    sent_at = _send_paced(producer, count, rate, run_tag)
    deadline = time.monotonic() + 120
    while (not polls or polls[-1][1] < count) and time.monotonic() < deadline:
        time.sleep(0.2)
    done.set()
    poller.join()
    flink_job.cancel_job(config, job_id)  # the slots are needed by the next job
    # On-time wall-clock page views: any late row here is the watermark running ahead.
    late_rows = sum(
        1
        for record in read_topic(config, config.topics.late_events)
        if record.value is not None and run_tag.encode() in record.value
    )
    delays = _delays(sent_at, polls)
    return {
        "target_rate": rate,
        "events": count,
        "warmup_events": warmup,
        "seen_in_pinot": len(delays),
        "late_rows": late_rows,
        "p50_s": round(percentile(delays, 0.50), 3),
        "p99_s": round(percentile(delays, 0.99), 3),
        "measures": "produce to Kafka -> counted in Pinot's pageview_tumbling (live row), "
        f"after a warm-up of the same rate, dated {behind_ms // 60_000} min earlier",
    }


def _delays(sent_at: list[float], polls: list[tuple[float, int]]) -> list[float]:
    """For the i-th page view sent: the first poll at or after its sending that saw at least
    i + 1 counted, minus when it was sent. Both the sending times and the thresholds grow, so
    one pass over each list finds them all."""
    delays = []
    first = 0
    for i, sent in enumerate(sent_at):
        while first < len(polls) and (polls[first][1] < i + 1 or polls[first][0] < sent):
            first += 1
        if first == len(polls):
            break
        delays.append(polls[first][0] - sent)
    return delays


class _TimedPinot(PinotStore):
    """PinotStore that keeps how long each query took."""

    def __init__(self, base: PinotStore) -> None:
        super().__init__(base.broker_url, base.controller_url, datetimes=True)
        self.seconds: list[float] = []

    def query(self, sql: str, params: Any = ()) -> QueryResult:
        started = time.monotonic()
        try:
            return super().query(sql, params)
        finally:
            self.seconds.append(time.monotonic() - started)


# Result rows in Pinot while the dashboard is timed (the bar: >= 1 M rows).
DASHBOARD_BENCH_ROWS = 1_000_000


def fill_user_sessions(config: StackConfig, rows: int, say: Say) -> int:
    """Add per-user sessions until Pinot's result tables hold at least `rows` rows, all in the
    dashboard's time range (the last 2 hours of event time): the table that grows with users,
    and the one whose query reads the most rows (20 000 sessions per refresh). Returns the
    rows the result tables then hold."""
    store = pinot_store(config)
    held = sum(served_rows(store).values())
    missing = rows - held
    if missing <= 0:
        return held
    newest = queries.status(pinot_store(config, datetimes=True)).newest_event_at
    end_ms = int((newest or datetime.now(UTC)).timestamp() * 1000)
    say(f"adding {missing:,} user sessions to Pinot's {held:,} result rows")
    producer = Producer({"bootstrap.servers": config.bootstrap, "linger.ms": 50})
    topic = config.topics.result("user_sessions")
    for n in range(missing):
        start_ms = end_ms - (n * 7_919) % (2 * 3_600_000)  # spread over 2 hours
        key = {"user_id": 10**12 + n, "window_start": start_ms}
        value = key | {"window_end": start_ms + 600_000, "pageview_count": 1 + n % 40}
        value["is_final"] = True
        while True:
            try:
                producer.produce(topic, key=orjson.dumps(key), value=orjson.dumps(value))
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.5)
    producer.flush(120)
    deadline = time.monotonic() + 600
    while (held := sum(served_rows(store).values())) < rows:
        if time.monotonic() > deadline:
            raise ServiceTimeout(f"Pinot holds {held:,} result rows after 10 min, not {rows:,}")
        time.sleep(2.0)
    return held


def dashboard_latency(config: StackConfig, refreshes: int = 30) -> dict[str, Any]:
    """The dashboard's queries on Pinot, as one refresh runs them, `refreshes` times."""
    pinot = _TimedPinot(pinot_store(config))
    result_rows = sum(served_rows(pinot).values())
    whole: list[float] = []
    for _ in range(refreshes):
        started = time.monotonic()
        queries.refresh(pinot, hours=2.0)
        whole.append(time.monotonic() - started)
    return {
        "refreshes": refreshes,
        "result_rows_in_pinot": result_rows,
        "pinot_query_p50_ms": round(percentile(pinot.seconds, 0.50) * 1000, 1),
        "pinot_query_p99_ms": round(percentile(pinot.seconds, 0.99) * 1000, 1),
        "pinot_queries_per_refresh": len(pinot.seconds) // refreshes,
        "refresh_p50_ms": round(percentile(whole, 0.50) * 1000, 1),
        "refresh_p99_ms": round(percentile(whole, 0.99) * 1000, 1),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
