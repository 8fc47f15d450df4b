"""`stack up`, `status`, `logs` and `down`: the order of services, health, and reporting."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from pageviews.stack import connect, fetch, flink, kafka, mariadb
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.java import java_binary
from pageviews.stack.process import Service, ServiceError, port_open, port_owner

Say = Callable[[str], None]


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass
class ServiceReport:
    name: str
    ports: list[int]
    pid: int | None
    running: bool
    healthy: bool
    rss_mb: float | None
    started_now: bool = False
    detail: str = ""


def all_services(config: StackConfig) -> list[Service]:
    return [
        mariadb.service(config),
        *kafka.services(config),
        connect.service(config),
        *flink.services(config),
    ]


def service_ports(config: StackConfig) -> dict[str, list[int]]:
    ports = {"mariadb": [config.mariadb_port], "connect": [config.connect_port]}
    for n, broker, controller in zip(
        config.nodes, config.broker_ports, config.controller_ports, strict=True
    ):
        ports[f"kafka-{n}"] = [broker, controller]
    ports["flink-jobmanager"] = [config.flink.rest_port, config.flink.jobmanager_rpc_port]
    ports["flink-taskmanager"] = [config.flink.taskmanager_rpc_port]
    return ports


def check_ports(config: StackConfig, names: list[str]) -> None:
    """Fail clearly if a port of a service we are about to start is already taken."""
    ports = service_ports(config)
    for name in names:
        for port in ports[name]:
            if port_open(port):
                raise ServiceError(
                    f"port {HOST}:{port} for {name} is taken by {port_owner(port)}; stop it, "
                    "or choose other ports (PAGEVIEWS_BROKER_PORTS, PAGEVIEWS_CONTROLLER_PORTS, "
                    "PAGEVIEWS_MARIADB_PORT, PAGEVIEWS_CONNECT_PORT, PAGEVIEWS_FLINK_*)"
                )


def up(config: StackConfig, say: Say = _stderr) -> tuple[list[ServiceReport], float]:
    """Fetch what is missing, start what is not running, wait until all is healthy."""
    started = time.monotonic()
    java_binary()  # fail early and clearly without Java
    fetch.fetch_all(config, say)
    mariadb.ensure_installed(say)
    flink.ensure_venv(config, say)
    config.stack_dir.mkdir(parents=True, exist_ok=True)
    not_running = [s.name for s in all_services(config) if s.process() is None]
    check_ports(config, not_running)

    # MariaDB first (fast), then the brokers, then Connect, which needs both.
    if "mariadb" in not_running:
        if mariadb.prepare(config):
            say("mariadb: initialised a new datadir")
        mariadb.start(config)
    kafka.prepare(config)
    kafka.start(config)
    mariadb.wait_healthy(config)
    mariadb.bootstrap(config)
    say(f"mariadb: healthy on {HOST}:{config.mariadb_port}")
    kafka.wait_healthy(config)
    created = kafka.ensure_topics(config)
    say(f"kafka: {len(config.broker_ports)} brokers healthy on {config.bootstrap}")
    if created:
        say(f"kafka: created topics {', '.join(created)}")
    connect.prepare(config)
    connect.start(config)
    connect.wait_healthy(config)
    connect.register(config)
    connect.wait_connector(config)
    say(f"connect: connector {config.connector_name} running, REST on {HOST}:{config.connect_port}")
    flink.prepare(config)
    flink.start(config)
    flink.wait_healthy(config)
    say(f"flink: JobManager and TaskManager up, REST on {HOST}:{config.flink.rest_port}")
    reports = status(config, deep=False)
    for report in reports:
        report.started_now = report.name in not_running
    return reports, time.monotonic() - started


def status(config: StackConfig, deep: bool = True) -> list[ServiceReport]:
    ports = service_ports(config)
    brokers: set[int] = set()
    if deep:
        try:
            brokers = kafka.live_brokers(config, timeout_s=3)
        except Exception:  # noqa: BLE001 - no cluster is a status, not an error
            brokers = set()
    reports = []
    for svc in all_services(config):
        pid = svc.pid()
        healthy = pid is not None and port_open(ports[svc.name][0])
        detail = ""
        if deep and healthy and svc.name.startswith("kafka-"):
            healthy = int(svc.name.split("-")[1]) in brokers
        if deep and healthy and svc.name == "connect":
            try:
                detail = f"connector {config.connector_name}: {connect.connector_state(config)}"
            except Exception as error:  # noqa: BLE001
                detail = f"connector {config.connector_name}: {error}"
            healthy = detail.endswith("RUNNING")
        if deep and healthy and svc.name == "flink-jobmanager":
            try:
                managers, slots = flink.free_slots(config)
                detail = f"{managers} TaskManager(s), {slots} slots"
            except Exception as error:  # noqa: BLE001
                detail, healthy = f"REST: {error}", False
        reports.append(
            ServiceReport(
                name=svc.name,
                ports=ports[svc.name],
                pid=pid,
                running=pid is not None,
                healthy=healthy,
                rss_mb=None if svc.rss_mb() is None else round(svc.rss_mb() or 0, 1),
                detail=detail,
            )
        )
    return reports


def status_json(config: StackConfig) -> dict[str, Any]:
    return {
        "stack_dir": str(config.stack_dir),
        "bootstrap_servers": config.bootstrap,
        "ports": config.all_ports(),
        "topics": list(config.topics.all()),
        "services": [asdict(r) for r in status(config)],
    }


def down(config: StackConfig, say: Say = _stderr, timeout_s: float = 60.0) -> list[str]:
    """Stop, by PID, what `up` started: Flink, Connect, all brokers together, then MariaDB."""
    stopped = []
    for group in (
        flink.services(config),
        [connect.service(config)],
        kafka.services(config),  # together: a lone last node would wait for a lost quorum
        [mariadb.service(config)],
    ):
        procs = [(svc, svc.process()) for svc in group]
        for _svc, proc in procs:
            if proc is not None:
                proc.terminate()
        for svc, proc in procs:
            if proc is None:
                svc.pid_file.unlink(missing_ok=True)
                continue
            try:
                proc.wait(timeout_s)
            except psutil.TimeoutExpired:
                say(f"{svc.name}: no exit after {timeout_s:.0f}s, killing pid {proc.pid}")
                proc.kill()
                proc.wait(10)
            svc.pid_file.unlink(missing_ok=True)
            stopped.append(svc.name)
            say(f"{svc.name}: stopped (pid {proc.pid})")
    return stopped


def log_files(config: StackConfig, name: str | None) -> list[tuple[str, Any]]:
    files = []
    for svc in all_services(config):
        if (
            name is None
            or svc.name == name
            or (name in ("kafka", "flink") and svc.name.startswith(name))
        ):
            files.append((svc.name, svc.log_file))
            if svc.name == "mariadb":
                files.append(("mariadb", mariadb.datadir(config).parent / "error.log"))
    return files
