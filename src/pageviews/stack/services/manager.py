"""`stack up`, `status`, `logs` and `down`: the order of services, health, and reporting."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from pageviews.stack import pinot_tables
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.services import connect, fetch, flink, kafka, loopback, mariadb, pinot
from pageviews.stack.services.java import java_binary
from pageviews.stack.services.process import Service, ServiceError, port_open, port_owner

Say = Callable[[str], None]

PINOT_SERVER_GRACE_S = 15.0


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
        *pinot.services(config),
    ]


def service_ports(config: StackConfig) -> dict[str, list[int]]:
    ports = {"mariadb": [config.mariadb_port], "connect": [config.connect_port]}
    for n, broker, controller in zip(
        config.nodes, config.broker_ports, config.controller_ports, strict=True
    ):
        ports[f"kafka-{n}"] = [broker, controller]
    ports["flink-jobmanager"] = [config.flink.rest_port, config.flink.jobmanager_rpc_port]
    ports["flink-taskmanager"] = [config.flink.taskmanager_rpc_port]
    return ports | config.pinot.ports()


def check_ports(config: StackConfig, names: list[str]) -> None:
    """Fail clearly if a port of a service we are about to start is already taken."""
    ports = service_ports(config)
    for name in names:
        for port in ports[name]:
            if port_open(port):
                raise ServiceError(
                    f"port {HOST}:{port} for {name} is taken by {port_owner(port)}; stop it, "
                    "or choose other ports (PAGEVIEWS_BROKER_PORTS, PAGEVIEWS_CONTROLLER_PORTS, "
                    "PAGEVIEWS_MARIADB_PORT, PAGEVIEWS_CONNECT_PORT, PAGEVIEWS_FLINK_*, "
                    "PAGEVIEWS_PINOT_*_PORT)"
                )


def up(config: StackConfig, say: Say = _stderr) -> tuple[list[ServiceReport], float]:
    """Fetch what is missing, start what is not running, wait until all is healthy."""
    started = time.monotonic()
    java_binary()  # fail early and clearly without Java
    fetch.fetch_all(config, say)
    mariadb.ensure_installed(say)
    loopback.build(say)
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
    # Pinot's ZooKeeper and controller start while Kafka forms its quorum.
    pinot.prepare(config)
    pinot.start(config, ("pinot-zookeeper",))
    pinot.wait_healthy(config, ("pinot-zookeeper",))
    pinot.start(config, ("pinot-controller",))
    if pinot.cluster_ready(config):
        # The cluster exists in ZooKeeper from an earlier run: no need to wait for the
        # controller before starting broker and server.
        pinot.start(config, ("pinot-broker", "pinot-server"))
    mariadb.wait_healthy(config)
    mariadb.bootstrap(config)
    say(f"mariadb: healthy on {HOST}:{config.mariadb_port}")
    kafka.wait_healthy(config)
    created = kafka.ensure_topics(config)
    say(f"kafka: {len(config.broker_ports)} brokers healthy on {config.bootstrap}")
    if created:
        say(f"kafka: created topics {', '.join(created)}")
    # Broker and server need the cluster the controller sets up in ZooKeeper.
    pinot.wait_healthy(config, ("pinot-controller",))
    pinot.start(config, ("pinot-broker", "pinot-server"))
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
    pinot.wait_healthy(config, ("pinot-broker", "pinot-server"))
    pinot.wait_server_registered(config)
    actions = pinot_tables.ensure_tables(config)
    pinot.mark_cluster_ready(config)
    changed = {t: a for t, a in actions.items() if a != "unchanged"}
    say(
        f"pinot: controller on {HOST}:{config.pinot.controller_port}, broker on "
        f"{HOST}:{config.pinot.broker_port}; tables "
        + (", ".join(f"{t} {a}" for t, a in changed.items()) if changed else "unchanged")
    )
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
        if svc.name.startswith("pinot-") and pid is not None:
            healthy = pinot.healthy(config, svc.name)
            if deep and healthy:
                detail = _pinot_detail(config, svc.name)
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


def _pinot_detail(config: StackConfig, name: str) -> str:
    """Tables on the controller; dropped and failed rows on the server."""
    try:
        if name == "pinot-controller":
            return f"{len(pinot_tables.table_names(config))} tables"
        if name == "pinot-server":
            decode = len(pinot.decode_errors(config))
            failed = sum(
                len(pinot_tables.segment_errors(config, t))
                for t in pinot_tables.table_names(config)
            )
            # Counted from the log: a row read again after a restart is logged again.
            return f"undecodable rows logged: {decode}, segments with errors: {failed}"
    except Exception as error:  # noqa: BLE001 - a detail, not the health verdict
        return f"({error})"
    return ""


def status_json(config: StackConfig) -> dict[str, Any]:
    return {
        "stack_dir": str(config.stack_dir),
        "bootstrap_servers": config.bootstrap,
        "ports": config.all_ports(),
        "topics": list(config.topics.all()),
        "pinot": {
            "controller_url": f"http://{HOST}:{config.pinot.controller_port}",
            "broker_url": f"http://{HOST}:{config.pinot.broker_port}",
            "version": config.pinot.version,
        },
        "services": [asdict(r) for r in status(config)],
    }


def down(config: StackConfig, say: Say = _stderr, timeout_s: float = 60.0) -> list[str]:
    """Stop, by PID, what `up` started: Flink, Pinot, Connect, all brokers together, MariaDB."""
    stopped = []
    # Pinot's server closes its consumers one by one, about 5 s each (40 partitions): it gets a
    # short grace, then SIGKILL. Nothing is lost: committed segments are on disk, and the
    # consuming ones are read again from Kafka at the next start.
    pinot_grace_s = min(timeout_s, PINOT_SERVER_GRACE_S)
    for group, grace_s in (
        (flink.services(config), timeout_s),
        # Server and broker before the controller, ZooKeeper last: each needs ZooKeeper to
        # shut down cleanly, and Kafka outlives the server's consumers.
        (
            [pinot.service(config, "pinot-server"), pinot.service(config, "pinot-broker")],
            pinot_grace_s,
        ),
        ([pinot.service(config, "pinot-controller")], timeout_s),
        ([pinot.service(config, "pinot-zookeeper")], timeout_s),
        ([connect.service(config)], timeout_s),
        # Together: a lone last node would wait for a lost quorum.
        (kafka.services(config), timeout_s),
        ([mariadb.service(config)], timeout_s),
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
                proc.wait(grace_s)
            except psutil.TimeoutExpired:
                say(f"{svc.name}: no exit after {grace_s:.0f}s, killing pid {proc.pid}")
                proc.kill()
                proc.wait(10)
            svc.pid_file.unlink(missing_ok=True)
            stopped.append(svc.name)
            say(f"{svc.name}: stopped (pid {proc.pid})")
    return stopped


def log_files(config: StackConfig, name: str | None) -> list[tuple[str, Any]]:
    files = []
    for svc in all_services(config):
        family = svc.name.split("-")[0]
        if name is None or svc.name == name or name == family:
            files.append((svc.name, svc.log_file))
            if svc.name == "mariadb":
                files.append(("mariadb", mariadb.datadir(config).parent / "error.log"))
            if svc.name == "pinot-server":
                files.append(("pinot-decode-errors", pinot.decode_errors_log(config)))
    return files
