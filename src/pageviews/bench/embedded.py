"""`pageviews bench`: throughput on one core, peak memory as input grows, and freshness.

Throughput runs the real CLI in a child process pinned to one CPU with one DuckDB thread, on a
generated file (generation is not timed). Memory is the child's peak RSS at two input sizes.
Freshness replays at a fixed live rate in this process (one DuckDB thread) and measures, per
line, the time from when it was due to arrive to the commit that makes it queryable.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.settings import cache_dir
from pageviews.sources.generator import GeneratorConfig, write_jsonl
from pageviews.sources.inputs import InputSpec
from pageviews.sources.line_split import warm_up_split
from pageviews.validation.scan import warm_up_scan

# Commit as soon as a paced batch has caught up and waited this long: freshest, and busiest.
FRESHNESS_FLUSH_MS = 100


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _input_file(events: int, seed: int, work_dir: Path) -> Path:
    """A generated input, kept between runs (generation is slow and not what we measure)."""
    path = work_dir / f"events-{events}-seed{seed}.jsonl"
    if not path.exists():
        _say(f"generating {events:,} events into {path}")
        partial = path.with_suffix(".partial")
        write_jsonl(
            GeneratorConfig(seed=seed, events=events),
            partial,
            lambda n: _say(f"  generated {n:,}") if n % 1_000_000 == 0 else None,
        )
        partial.rename(path)
    return path


def _pin_to_one_core() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _throughput(events_file: Path, work_dir: Path) -> dict[str, Any]:
    """Run the whole pipeline on one core in a child process; report rate and peak RSS."""
    data_dir = Path(tempfile.mkdtemp(prefix="bench-data-", dir=work_dir))
    stats_file = data_dir / "stats.json"
    command = [
        sys.executable, "-m", "pageviews.cli", "run", "--input", str(events_file),
        "--no-dashboard", "--quiet", "--threads", "1", "--data-dir", str(data_dir / "d"),
        "--stats-json", str(stats_file),
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    subprocess.run(command, check=True, preexec_fn=_pin_to_one_core)  # noqa: S603 - our CLI
    wall_s = time.monotonic() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    stats = json.loads(stats_file.read_text())
    shutil.rmtree(data_dir)
    return {
        "lines": stats["lines"],
        "events_per_s": round(stats["lines"] / stats["seconds"]),
        "events_per_s_including_startup": round(stats["lines"] / wall_s),
        "pipeline_seconds": stats["seconds"],
        # ru_maxrss of children is the largest child so far: valid when runs grow in size.
        "peak_rss_mib": round(max(peak_kib, before) / 1024, 1),
    }


def _percentile(samples: list[tuple[float, int]], fraction: float) -> float:
    """Weighted percentile of (value, count) samples."""
    ordered = sorted(samples)
    total = sum(count for _, count in ordered)
    target = fraction * total
    seen = 0
    for value, count in ordered:
        seen += count
        if seen >= target:
            return value
    return ordered[-1][0]


def _freshness(rate: float, seconds: float, work_dir: Path) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-live-", dir=work_dir))
    events = int(rate * seconds)
    stats = run_pipeline(
        RunOptions(
            input=InputSpec("generator", seed=1, events=events),
            data_dir=data_dir,
            rate=rate,
            flush_ms=FRESHNESS_FLUSH_MS,
            # One DuckDB thread: for batches of this size, a second one costs more than it gives.
            threads=1,
        )
    )
    shutil.rmtree(data_dir)
    achieved = stats.lines / stats.seconds if stats.seconds else 0.0
    return {
        "target_rate": rate,
        "achieved_rate": round(achieved),
        "lines": stats.lines,
        "p50_s": round(_percentile(stats.freshness, 0.50), 3),
        "p99_s": round(_percentile(stats.freshness, 0.99), 3),
        "measures": "arrival of a line -> commit that makes it queryable (views without join)",
    }


def run_bench(
    events: int,
    seed: int,
    live_rate: float,
    live_seconds: float,
    work_dir: Path | None = None,
    compact_json: bool = False,
) -> dict[str, Any]:
    work_dir = work_dir or cache_dir() / "bench"
    work_dir.mkdir(parents=True, exist_ok=True)
    small = max(1, events // 5)
    report: dict[str, Any] = {"events": events, "seed": seed, "cpu_cores_used": 1}
    # Compile the numba code now if its cache is cold: that happens once per install, and the
    # timed runs load it from the cache as every later run does.
    warm_up_scan()
    warm_up_split()
    _say(f"throughput on {small:,} events (one core)")
    report["throughput_small"] = _throughput(_input_file(small, seed, work_dir), work_dir)
    _say(f"throughput on {events:,} events (one core)")
    report["throughput"] = _throughput(_input_file(events, seed, work_dir), work_dir)
    report["memory_growth_ratio"] = round(
        report["throughput"]["peak_rss_mib"] / report["throughput_small"]["peak_rss_mib"], 2
    )
    _say(f"freshness at {live_rate:,.0f} events/s for {live_seconds:.0f}s")
    report["freshness"] = _freshness(live_rate, live_seconds, work_dir)
    print(json.dumps(report, indent=None if compact_json else 2))
    return report
