"""The `pageviews stack ...` commands and `generate --to stack`, for the CLI.

Kept apart from cli.py so the CLI stays thin. The stack's modules import confluent_kafka and
pymysql (the `kafka` extra), so they are imported only when a stack command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pageviews.errors import UsageError
from pageviews.window_options import add_window_options, window_config

if TYPE_CHECKING:
    from pageviews.config import WindowConfig
    from pageviews.sources.generator import GeneratorConfig
    from pageviews.sources.inputs import InputSpec
    from pageviews.stack.config import StackConfig
    from pageviews.store.base import Store

STACK_DIR_HELP = (
    "where the stack keeps data, logs and PIDs "
    "(default: ~/.cache/pageviews/stack, or $PAGEVIEWS_STACK_DIR)"
)


def add_stack_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stack = sub.add_parser(
        "stack",
        help="run Kafka, MariaDB, Kafka Connect, Flink and Pinot natively on 127.0.0.1",
        description=(
            "The distributed runtime's services, without Docker: three Kafka brokers (KRaft), "
            "MariaDB with binlog CDC, Kafka Connect with Debezium, a Flink cluster (one "
            "JobManager, one TaskManager) for the SQL job, and Apache Pinot (ZooKeeper, "
            "controller, broker, server) reading the result topics. Jars come from Maven "
            "Central and Flink from PyPI into ~/.cache/pageviews (or $PAGEVIEWS_CACHE)."
        ),
    )
    stack_sub = stack.add_subparsers(dest="stack_command", required=True)
    stack_up = stack_sub.add_parser(
        "up", help="fetch, start and wait until every service is healthy"
    )
    stack_status = stack_sub.add_parser("status", help="health, PIDs, ports and RSS")
    stack_status.add_argument("--json", action="store_true", help="print JSON")
    stack_logs = stack_sub.add_parser("logs", help="tail the services' log files")
    stack_logs.add_argument(
        "service",
        nargs="?",
        help="mariadb, kafka, kafka-1..3, connect, flink, flink-jobmanager/-taskmanager, pinot "
        "or pinot-zookeeper/-controller/-broker/-server (default: all)",
    )
    stack_logs.add_argument("-n", "--lines", type=int, default=40)
    stack_logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    stack_down = stack_sub.add_parser("down", help="stop what `stack up` started (data is kept)")
    stack_job = stack_sub.add_parser("job", help="submit, watch or cancel the Flink SQL job")
    stack_job.add_argument("action", choices=("submit", "status", "cancel", "list"))
    stack_job.add_argument("job_id", nargs="?", help="for status and cancel")
    stack_job.add_argument(
        "--bounded", action="store_true", help="read the topics up to their end, then finish"
    )
    stack_job.add_argument("--wait", action="store_true", help="submit: wait until finished")
    add_window_options(stack_job)
    for sp in (stack_up, stack_status, stack_logs, stack_down, stack_job):
        sp.add_argument("--stack-dir", type=Path, help=STACK_DIR_HELP)


def generate_to_stack(args: argparse.Namespace, config: GeneratorConfig) -> int:
    from pageviews.sources.generator import generate_lines
    from pageviews.stack.config import StackConfig
    from pageviews.stack.produce import GenerateStats, write_lines

    stack = StackConfig.from_env(args.stack_dir)
    # Paced runs stamp events with the wall clock, as live input; unpaced ones replay.
    clock = (lambda: int(time.time() * 1000)) if args.rate else None

    def progress(stats: GenerateStats) -> None:
        print(
            f"[{stats.seconds:6.1f}s] {stats.lines:,} / {args.events:,} lines "
            f"({stats.lines / max(stats.seconds, 1e-9):,.0f}/s): {stats.produced:,} to Kafka, "
            f"{stats.users:,} user changes to MariaDB, {stats.refused:,} refused",
            file=sys.stderr,
            flush=True,
        )

    stats = write_lines(stack, generate_lines(config, clock), args.rate, progress)
    progress(stats)
    for reason, count in sorted(stats.refused_reasons.items()):
        print(f"  refused {count:,}: {reason}", file=sys.stderr)
    return 0


def _stack_config(args: argparse.Namespace) -> StackConfig:
    from pageviews.stack.config import StackConfig

    return StackConfig.from_env(args.stack_dir)


def cmd_stack(args: argparse.Namespace) -> int:
    from pageviews.stack.services import manager

    config = _stack_config(args)
    if args.stack_command == "up":
        reports, seconds = manager.up(config)
        for r in reports:
            state = "started" if r.started_now else "already running"
            print(
                f"{r.name:16} pid {r.pid:<8} ports {','.join(map(str, r.ports)):12} "
                f"rss {r.rss_mb or 0:6.0f} MB  {state}"
            )
        print(f"stack up in {seconds:.1f}s; Kafka bootstrap {config.bootstrap}")
        return 0
    if args.stack_command == "status":
        if args.json:
            print(json.dumps(manager.status_json(config), indent=2))
            return 0
        reports = manager.status(config)
        for r in reports:
            health = "healthy" if r.healthy else ("running" if r.running else "stopped")
            print(
                f"{r.name:16} {health:8} pid {r.pid or '-'!s:8} "
                f"ports {','.join(map(str, r.ports)):12} rss {r.rss_mb or 0:6.0f} MB {r.detail}"
            )
        return 0 if all(r.healthy for r in reports) else 1
    if args.stack_command == "logs":
        return _stack_logs(config, args)
    if args.stack_command == "job":
        return _stack_job(config, args)
    manager.down(config)
    return 0


def _stack_logs(config: StackConfig, args: argparse.Namespace) -> int:
    from pageviews.stack.services import manager

    files = manager.log_files(config, args.service)
    if not files:
        raise UsageError(f"no such service: {args.service}")
    positions: dict[Path, int] = {}
    for name, path in files:
        if not path.exists():
            continue
        lines = path.read_text(errors="replace").splitlines()[-args.lines :]
        for line in lines:
            print(f"{name}| {line}")
        positions[path] = path.stat().st_size
    while args.follow:
        time.sleep(1)
        for name, path in files:
            if path.exists() and path.stat().st_size > positions.get(path, 0):
                with open(path, errors="replace") as log:
                    log.seek(positions.get(path, 0))
                    for line in log.read().splitlines():
                        print(f"{name}| {line}", flush=True)
                    positions[path] = log.tell()
    return 0


def _stack_job(config: StackConfig, args: argparse.Namespace) -> int:
    from pageviews.stack import flink_job
    from pageviews.stack.run import record_job

    if args.action == "list":
        for job in flink_job.list_jobs(config):
            print(f"{job['id']}  {job['status']}")
        return 0
    if args.action == "submit":
        windows = window_config(args)
        job_id = flink_job.submit_job(config, windows, bounded=args.bounded)
        record_job(config, job_id, windows, args.bounded)
        print(job_id)
        if args.wait:
            print(flink_job.wait_finished(config, job_id, timeout_s=3600))
        return 0
    if not args.job_id:
        raise UsageError(f"stack job {args.action} needs a job id")
    if args.action == "status":
        print(flink_job.job_status(config, args.job_id))
        return 0
    flink_job.cancel_job(config, args.job_id)
    return 0


def pinot_reader_env(args: argparse.Namespace) -> dict[str, str]:
    """What a dashboard child needs to read Pinot (see store.clients.open_store)."""
    from pageviews.stack.config import HOST

    config = _stack_config(args)
    return {
        "PAGEVIEWS_PINOT_BROKER_URL": f"http://{HOST}:{config.pinot.broker_port}",
        "PAGEVIEWS_PINOT_CONTROLLER_URL": f"http://{HOST}:{config.pinot.controller_port}",
    }


def stack_store(args: argparse.Namespace) -> Store:
    """Pinot's result tables, answering the embedded tables' SQL (a snapshot per query)."""
    from pageviews.stack.pinot_sync import pinot_store
    from pageviews.store.pinot_snapshot import PinotSnapshotStore

    return PinotSnapshotStore(pinot_store(_stack_config(args)))


def check_stack(args: argparse.Namespace) -> tuple[str, bool]:
    """The oracle over the raw events in Kafka against Pinot's tables."""
    import tempfile

    from pageviews.check.served import check_served
    from pageviews.stack.readback import arrival_lines
    from pageviews.stack.run import recorded_windows

    config = _stack_config(args)
    windows = recorded_windows(config)
    lines = arrival_lines(config)
    print(f"pageviews: read {len(lines):,} raw records back from Kafka", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="pageviews-check-") as tmp:
        return check_served(lines, stack_store(args), windows, Path(tmp))


def run_stack(
    args: argparse.Namespace,
    spec: InputSpec,
    windows: WindowConfig,
    rate: float | None,
    should_stop: Callable[[], bool],
) -> int:
    """`pageviews run --backend stack`: see stack/run.py."""
    from pageviews.stack.produce import GenerateStats
    from pageviews.stack.run import run_on_stack

    def progress(stats: GenerateStats) -> None:
        if not args.quiet:
            print(
                f"[{stats.seconds:6.1f}s] {stats.lines:,} lines "
                f"({stats.lines / max(stats.seconds, 1e-9):,.0f}/s): {stats.produced:,} to "
                f"Kafka, {stats.users:,} user changes to MariaDB, {stats.refused:,} refused "
                "(to dead letters)",
                file=sys.stderr,
                flush=True,
            )

    report = run_on_stack(
        _stack_config(args), spec, windows, rate, progress=progress, should_stop=should_stop
    )
    progress(report.produced)
    if report.served_rows:
        rows = ", ".join(f"{table} {count:,}" for table, count in report.served_rows.items())
        print(f"pageviews: Pinot holds {rows}", file=sys.stderr)
    return 0
