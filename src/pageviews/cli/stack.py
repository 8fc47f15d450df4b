"""`pageviews stack ...`: the distributed runtime's services, and its Flink job.

The stack's modules need the `kafka` extra, so they are imported only when a command runs,
after `stack_config` has said what to install if it is missing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pageviews.cli import arg_types
from pageviews.cli.backend import STACK_DIR_HELP
from pageviews.cli.window_options import add_window_options, window_config
from pageviews.errors import UsageError
from pageviews.runtimes.stack import stack_config

if TYPE_CHECKING:
    from pageviews.stack.config import StackConfig


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    stack = commands.add_parser(
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
    stack_logs.add_argument("-n", "--lines", type=arg_types.int_in(0), default=40)
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
        sp.add_argument("--stack-dir", type=arg_types.path, help=STACK_DIR_HELP)
    stack.set_defaults(handler=command)


def command(args: argparse.Namespace) -> int:
    config = stack_config(args.stack_dir)
    from pageviews.stack.services import manager

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
        return _logs(config, args)
    if args.stack_command == "job":
        return _job(config, args)
    manager.down(config)
    return 0


def _logs(config: StackConfig, args: argparse.Namespace) -> int:
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


def _job(config: StackConfig, args: argparse.Namespace) -> int:
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
