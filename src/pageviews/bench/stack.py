"""`pageviews bench --backend stack`: the backbone's figures.

- `stack up` time, warm (artifacts cached, services stopped) and, with --cold, cold (a new,
  empty cache and stack dir, so every artifact is downloaded);
- produce throughput of page views to Kafka (acks=all, idempotent, RF 3), as fast as possible;
- the Flink job's throughput against the embedded engine's on the same file, end-to-end
  freshness into Pinot, and the Pinot latency of the dashboard's queries (bench/stack_flow.py);
- the RSS of each service after that load.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from pageviews.bench import stack_flow as bench_flow
from pageviews.config import WindowConfig
from pageviews.sources.generator import GeneratorConfig, generate_lines
from pageviews.stack.config import StackConfig
from pageviews.stack.produce import EventProducer
from pageviews.stack.services import manager

# A bounded replay of this many generated lines (the bar is set on >= 2 M events):
# minutes for the job on this machine, about one more to produce them.
FLINK_BENCH_LINES = 2_000_000


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _quiet(text: str) -> None:
    pass


def _timed_up(config: StackConfig) -> float:
    _, seconds = manager.up(config, say=_quiet)
    return round(seconds, 1)


def _cold_up_seconds() -> float:
    """`stack up` from nothing: a new cache (downloads) and a new stack dir, then down."""
    with tempfile.TemporaryDirectory(prefix="pageviews-cold-") as scratch:
        previous = os.environ.get("PAGEVIEWS_CACHE")
        os.environ["PAGEVIEWS_CACHE"] = scratch
        try:
            config = StackConfig.from_env(Path(scratch) / "stack")
            try:
                return _timed_up(config)
            finally:
                manager.down(config, say=_quiet)
        finally:
            if previous is None:
                os.environ.pop("PAGEVIEWS_CACHE", None)
            else:
                os.environ["PAGEVIEWS_CACHE"] = previous


def _produce(config: StackConfig, events: int) -> dict[str, Any]:
    records = []
    for line in generate_lines(GeneratorConfig(seed=5, events=None, malformed_fraction=0.0)):
        record = orjson.loads(line)
        if record["type"] == "pageview":
            records.append(record)
            if len(records) == events:
                break
    producer = EventProducer(config)
    started = time.monotonic()
    for record in records:
        producer.send(record)
    producer.flush()
    seconds = time.monotonic() - started
    return {
        "events": events,
        "acknowledged": producer.acked,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
        "settings": "acks=all, idempotent, RF 3, min.insync.replicas 2, 5 partitions",
    }


def run_stack_bench(
    events: int,
    cold: bool,
    stack_dir: Path | None,
    live_rate: float = 100.0,
    live_seconds: float = 20.0,
) -> dict[str, Any]:
    """Every figure, on a new stack dir unless one is given: live jobs read their topics from
    the start, so earlier data would be read again before freshness can be measured."""
    report: dict[str, Any] = {"backend": "stack"}
    if cold:
        _say("cold stack up (empty cache: downloads everything)")
        report["stack_up_cold_s"] = _cold_up_seconds()
    with tempfile.TemporaryDirectory(prefix="pageviews-bench-stack-") as scratch:
        config = StackConfig.from_env(stack_dir or Path(scratch) / "stack")
        _say(f"stack up in {config.stack_dir} (artifacts cached)")
        manager.down(config, say=_quiet)
        report["stack_up_warm_s"] = _timed_up(config)
        try:
            _flow_figures(config, report, events, live_rate, live_seconds)
            services = manager.status(config, deep=False)
            report["rss_mb"] = {s.name: s.rss_mb for s in services}
            report["rss_total_mb"] = round(sum(s.rss_mb or 0 for s in services), 1)
        finally:
            if stack_dir is None:
                manager.down(config, say=_quiet)
    print(json.dumps(report, indent=2))
    return report


def _flow_figures(
    config: StackConfig,
    report: dict[str, Any],
    events: int,
    live_rate: float,
    live_seconds: float,
) -> None:
    windows = WindowConfig()
    _say(f"end-to-end freshness at {live_rate:,.0f} page views/s for {live_seconds:.0f}s")
    report["freshness"] = bench_flow.freshness(config, windows, live_rate, live_seconds, _say)
    lines = min(events, FLINK_BENCH_LINES)
    _say(f"Flink job throughput on {lines:,} generated lines, and the embedded engine")
    report["flink_throughput"] = bench_flow.flink_throughput(config, lines, windows, _say)
    bench_flow.fill_user_sessions(config, bench_flow.DASHBOARD_BENCH_ROWS, _say)
    _say("Pinot latency of the dashboard's queries")
    report["dashboard_queries"] = bench_flow.dashboard_latency(config)
    _say(f"producing {events:,} page views")
    report["produce"] = _produce(config, events)
