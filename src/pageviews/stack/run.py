"""`pageviews run --backend stack`: input -> Kafka and MariaDB -> Flink -> Pinot.

A replay (`--events N` or `--input FILE`) writes every line first, waits until CDC has carried
every user change into Kafka, then runs the Flink job bounded: it reads the topics to their end,
so the watermark ends at +inf and every window is final, as in the embedded runtime. It returns
once Pinot holds every result row.

Live input starts (or reuses) an unbounded Flink job and feeds it until stopped. The job keeps
running afterwards, like any streaming service; `pageviews stack job cancel` stops it.

The job's window settings are kept in `<stack dir>/flink-job.json`, so that `check` recomputes
with the same ones.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from pageviews.config import WindowConfig
from pageviews.errors import ServiceTimeout, UsageError
from pageviews.sources.generator import GeneratorConfig, generate_lines
from pageviews.sources.inputs import InputSpec
from pageviews.stack import flink_job, pinot_sync, readback
from pageviews.stack.config import StackConfig
from pageviews.stack.produce import GenerateStats, UserWriter, write_lines
from pageviews.stack.readback import read_topic
from pageviews.stack.services import manager

JOB_FILE = "flink-job.json"
# A user id no generator makes. Written last in a replay; once CDC shows it, every user change
# before it is in Kafka. Its upsert is incomplete (no attributes) and dated 2000-01-01, so it
# joins nothing, is never a cleaned user, and moves no watermark.
SENTINEL_USER_ID = 2**62
SENTINEL_DAY_MS = 946_684_800_000  # 2000-01-01T00:00:00Z

Say = Callable[[str], None]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class StackRunReport:
    job_id: str
    bounded: bool
    produced: GenerateStats
    served_rows: dict[str, int]


def record_job(
    config: StackConfig,
    job_id: str,
    windows: WindowConfig,
    bounded: bool,
    served: bool = False,
    earlier_input: bool = False,
) -> None:
    """Keep the job's settings. `served`: a replay that finished, whose every row Pinot holds;
    `earlier_input`: the topics held input of earlier runs when this one began."""
    path = config.stack_dir / JOB_FILE
    job = {"job_id": job_id, "windows": asdict(windows), "bounded": bounded, "served": served}
    path.write_text(json.dumps(job | {"earlier_input": earlier_input}))


def recorded_job(config: StackConfig) -> dict[str, Any] | None:
    path = config.stack_dir / JOB_FILE
    return json.loads(path.read_text()) if path.exists() else None


def finished_replay_windows(config: StackConfig) -> WindowConfig:
    """The window settings of the last job, which must be a replay that finished.

    `check` recomputes a replay's results: a bounded job ends with W = +inf, so every window is
    final and every page view joined. A live job's open windows and waiting page views depend
    on when its watermark moved, which Kafka does not keep.
    """
    job = recorded_job(config)
    if job is None:
        raise UsageError(
            f"no Flink job was submitted from {config.stack_dir} yet; "
            "run `pageviews run --backend stack --events N` first"
        )
    if not job["bounded"]:
        raise UsageError(
            f"the last Flink job ({job['job_id']}) is live, and check needs a finished replay: "
            "cancel it (`pageviews stack job cancel`), then run "
            "`pageviews run --backend stack --events N` (or --input FILE)"
        )
    if not job.get("served"):
        raise UsageError(
            f"the replay job {job['job_id']} did not finish, or Pinot had not caught up with "
            "it: run the replay again"
        )
    if job.get("earlier_input"):
        raise UsageError(
            "the last replay ran over topics that held earlier input, so Pinot mixes its late "
            "rows and sessions with an earlier job's; check needs a stack with one replay: "
            "`pageviews stack up --stack-dir NEW_DIR`, then replay with the same --stack-dir"
        )
    return WindowConfig(**job["windows"])


def input_lines(spec: InputSpec) -> Iterator[str]:
    if spec.kind == "file":
        assert spec.path is not None
        with open(spec.path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                yield line.rstrip("\r\n")
    elif spec.kind == "stdin":
        for line in sys.stdin:
            yield line.rstrip("\r\n")
    else:
        live = spec.kind == "live"
        config = GeneratorConfig(seed=spec.seed, events=spec.events, users=spec.users)
        yield from generate_lines(config, (lambda: int(time.time() * 1000)) if live else None)


def write_sentinel(config: StackConfig) -> int:
    """An incomplete upsert of the sentinel user, at a new millisecond so it is a real change."""
    stamp_ms = SENTINEL_DAY_MS + random.randrange(86_400_000)  # noqa: S311 - not a secret
    writer = UserWriter(config)
    writer.write(
        {"type": "user", "op": "upsert", "user_id": SENTINEL_USER_ID, "updated_at": stamp_ms}
    )
    writer.close()
    return stamp_ms


def wait_for_cdc(config: StackConfig, stamp_ms: int, timeout_s: float = 120.0) -> None:
    """Wait until the sentinel's change is in the users topic: CDC has caught up to it."""
    want = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp_ms // 1000))
    want += f".{stamp_ms % 1000:03d}Z"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record in read_topic(config, config.topics.users):
            if record.value is not None and b'"user_id":%d' % SENTINEL_USER_ID in record.value:
                after = json.loads(record.value).get("after") or {}
                if after.get("updated_at") == want:
                    return
        time.sleep(1.0)
    raise ServiceTimeout(f"CDC did not bring the last user change into Kafka in {timeout_s:.0f}s")


def live_job(config: StackConfig, windows: WindowConfig, say: Say) -> str:
    """The running live job with these windows, or a new one."""
    job = recorded_job(config)
    if job is not None and not job["bounded"]:
        state = flink_job.job_status(config, job["job_id"]) if job["job_id"] else ""
        if state in ("RUNNING", "CREATED", "RESTARTING", "INITIALIZING"):
            if WindowConfig(**job["windows"]) != windows:
                raise UsageError(
                    f"a live Flink job ({job['job_id']}) runs with other window settings "
                    f"{job['windows']}; cancel it first: pageviews stack job cancel {job['job_id']}"
                )
            say(f"flink: live job {job['job_id']} is already running")
            return str(job["job_id"])
    job_id = flink_job.submit_job(config, windows, bounded=False, name="pageviews-live")
    record_job(config, job_id, windows, bounded=False)
    say(f"flink: submitted live job {job_id}")
    return job_id


def run_on_stack(
    config: StackConfig,
    spec: InputSpec,
    windows: WindowConfig,
    rate: float | None,
    say: Say = _stderr,
    progress: Callable[[GenerateStats], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> StackRunReport:
    manager.up(config, say)
    if spec.is_live:
        job_id = live_job(config, windows, say)
        stats = write_lines(config, input_lines(spec), rate, progress, should_stop)
        say(f"flink: live job {job_id} keeps running; stop it with `pageviews stack job cancel`")
        return StackRunReport(job_id, False, stats, {})
    event_topics = (config.topics.pageviews, config.topics.sessions)
    earlier_input = any(readback.record_count(config, topic) for topic in event_topics)
    stats = write_lines(config, input_lines(spec), rate, progress, should_stop)
    if should_stop():
        raise UsageError("stopped before the input was written; nothing was submitted to Flink")
    say(f"produced {stats.produced:,} events, {stats.users:,} user changes; waiting for CDC")
    wait_for_cdc(config, write_sentinel(config))
    job_id = flink_job.submit_job(config, windows, bounded=True, name="pageviews-replay")
    record_job(config, job_id, windows, bounded=True)
    say(f"flink: bounded job {job_id} submitted; waiting until it finishes")
    flink_job.wait_finished(config, job_id, timeout_s=3600)
    say("flink: job finished; waiting until Pinot holds every result row")
    served = pinot_sync.wait_caught_up(config)
    record_job(config, job_id, windows, bounded=True, served=True, earlier_input=earlier_input)
    return StackRunReport(job_id, True, stats, served)
