"""Ports, directories, versions and credentials of the stack, with environment overrides.

Everything binds to 127.0.0.1. Credentials are read from the environment (or their defaults for a
local, loopback-only stack) and are never part of `describe()` or any log line.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from pageviews.model.results import DEAD_LETTERS, LATE_EVENTS, RESULT_TABLES
from pageviews.stack.pinot_config import PinotConfig

HOST = "127.0.0.1"


def cache_dir() -> Path:
    """Downloads live outside the repo: $PAGEVIEWS_CACHE, or ~/.cache/pageviews."""
    return Path(os.environ.get("PAGEVIEWS_CACHE") or Path.home() / ".cache" / "pageviews")


# Environment variable of each credential; unset ones are generated once per stack dir.
CREDENTIAL_ENV = {
    "root": "PAGEVIEWS_MARIADB_ROOT_PASSWORD",
    "cdc": "PAGEVIEWS_CDC_PASSWORD",
    "app": "PAGEVIEWS_MARIADB_PASSWORD",
}
CREDENTIALS_FILE = "credentials.json"


def load_credentials(stack_dir: Path) -> dict[str, str]:
    """Passwords from the environment, else from the stack dir's 0600 file, else new random ones.

    Why a file: the database keeps the passwords it was initialised with, so they must survive
    `down`/`up`; no password is written into the code.
    """
    path = stack_dir / CREDENTIALS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        stored = {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
    missing = [k for k in CREDENTIAL_ENV if k not in stored]
    if missing:
        stored |= {k: secrets.token_urlsafe(18) for k in missing}
        stack_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(stored, out)
    return {k: os.environ.get(env) or stored[k] for k, env in CREDENTIAL_ENV.items()}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _default_result_topics() -> dict[str, str]:
    return {table.name: table.topic for table in RESULT_TABLES}


def _result_topics() -> dict[str, str]:
    """{result table: topic}: the catalogue's topic, or PAGEVIEWS_TOPIC_<TABLE NAME>."""
    return {
        table.name: _env_str(f"PAGEVIEWS_TOPIC_{table.name.upper()}", table.topic)
        for table in RESULT_TABLES
    }


@dataclass(frozen=True)
class Topics:
    """Topic names; the defaults follow the reference system, result topics the catalogue."""

    pageviews: str = "topic1_PageView"
    sessions: str = "topic2_UserSession"
    users: str = "topic3_Users"
    results: dict[str, str] = field(
        default_factory=lambda: {t.name: t.topic for t in RESULT_TABLES}
    )
    partitions: int = 5
    replication: int = 3
    min_insync: int = 2

    def result(self, table: str) -> str:
        """The topic the Flink job writes result table `table` to, and Pinot reads."""
        return self.results[table]

    @property
    def late_events(self) -> str:
        return self.result(LATE_EVENTS.name)

    @property
    def dead_letters(self) -> str:
        return self.result(DEAD_LETTERS.name)

    def all(self) -> tuple[str, ...]:
        return (self.pageviews, self.sessions, self.users, *self.results.values())

    def with_suffix(self, suffix: str) -> Topics:
        """Fresh page-view and result topics (users and sessions shared), e.g. for a test."""
        return replace(
            self,
            pageviews=f"{self.pageviews}-{suffix}",
            results={table: f"{topic}-{suffix}" for table, topic in self.results.items()},
        )

    @classmethod
    def from_env(cls) -> Topics:
        base = cls()
        return cls(
            pageviews=_env_str("PAGEVIEWS_TOPIC_PAGEVIEWS", base.pageviews),
            sessions=_env_str("PAGEVIEWS_TOPIC_SESSIONS", base.sessions),
            users=_env_str("PAGEVIEWS_TOPIC_USERS", base.users),
            results=_result_topics(),
        )


@dataclass(frozen=True)
class FlinkConfig:
    """The Flink cluster: versions, ports, memory; env overrides PAGEVIEWS_FLINK_*."""

    version: str = "2.2.1"  # the apache-flink wheel; its own venv under <cache>/flink-venv
    kafka_connector: str = "5.0.0-2.2"  # org.apache.flink:flink-sql-connector-kafka
    rest_port: int = 8081
    jobmanager_rpc_port: int = 6123
    blob_port: int = 6124
    taskmanager_rpc_port: int = 6122
    taskmanager_data_port: int = 6121
    # The metrics query services of both processes, as a range ("0" would be any free port).
    query_ports: str = "6125-6126"
    jobmanager_memory_mb: int = 768
    taskmanager_memory_mb: int = 1536
    task_slots: int = 2
    # One pipeline: lateness decided at the source and at the window operators agree.
    parallelism: int = 1
    checkpoint_interval_ms: int = 2_000

    @classmethod
    def from_env(cls) -> FlinkConfig:
        d = cls()
        return cls(
            version=_env_str("PAGEVIEWS_FLINK_VERSION", d.version),
            kafka_connector=_env_str("PAGEVIEWS_FLINK_KAFKA_CONNECTOR", d.kafka_connector),
            rest_port=_env_int("PAGEVIEWS_FLINK_REST_PORT", d.rest_port),
            jobmanager_rpc_port=_env_int("PAGEVIEWS_FLINK_RPC_PORT", d.jobmanager_rpc_port),
            blob_port=_env_int("PAGEVIEWS_FLINK_BLOB_PORT", d.blob_port),
            taskmanager_rpc_port=_env_int("PAGEVIEWS_FLINK_TM_RPC_PORT", d.taskmanager_rpc_port),
            taskmanager_data_port=_env_int("PAGEVIEWS_FLINK_TM_DATA_PORT", d.taskmanager_data_port),
            query_ports=_env_str("PAGEVIEWS_FLINK_QUERY_PORTS", d.query_ports),
            jobmanager_memory_mb=_env_int("PAGEVIEWS_FLINK_JM_MEMORY_MB", d.jobmanager_memory_mb),
            taskmanager_memory_mb=_env_int("PAGEVIEWS_FLINK_TM_MEMORY_MB", d.taskmanager_memory_mb),
            task_slots=_env_int("PAGEVIEWS_FLINK_TASK_SLOTS", d.task_slots),
            parallelism=_env_int("PAGEVIEWS_FLINK_PARALLELISM", d.parallelism),
            checkpoint_interval_ms=_env_int(
                "PAGEVIEWS_FLINK_CHECKPOINT_MS", d.checkpoint_interval_ms
            ),
        )

    def __post_init__(self) -> None:
        if not 0 < self.checkpoint_interval_ms <= 5_000:
            raise ValueError("the Flink checkpoint interval must be within (0, 5000] ms")
        if self.parallelism > self.task_slots:
            raise ValueError("Flink parallelism needs at least as many task slots")


@dataclass(frozen=True)
class StackConfig:
    stack_dir: Path
    cache: Path
    broker_ports: tuple[int, ...] = (9093, 9094, 9095)
    # Controllers get their own ports, away from the brokers' (19093, 29093, 39093).
    controller_ports: tuple[int, ...] = (19093, 29093, 39093)
    mariadb_port: int = 3307
    connect_port: int = 8083
    kafka_version: str = "4.1.1"
    # The newest Debezium MariaDB connector on Maven Central; built against Kafka 4.1.
    debezium_version: str = "3.5.0.Final"
    log4j_version: str = "2.24.3"
    broker_heap_mb: int = 512
    connect_heap_mb: int = 512
    mariadb_database: str = "demo"
    mariadb_root_password: str = field(default="", repr=False)
    cdc_user: str = "cdc"
    cdc_password: str = field(default="", repr=False)
    app_user: str = "pageviews"
    app_password: str = field(default="", repr=False)
    mariadb_server_id: int = 1
    connect_server_id: int = 5401  # Debezium's replica id, distinct from the server's
    connector_name: str = "users-cdc"
    topics: Topics = field(default_factory=Topics)
    flink: FlinkConfig = field(default_factory=FlinkConfig)
    pinot: PinotConfig = field(default_factory=PinotConfig)

    @classmethod
    def from_env(cls, stack_dir: Path | None = None) -> StackConfig:
        cache = cache_dir()
        d = cls(stack_dir=Path(), cache=cache)
        root = stack_dir or Path(os.environ.get("PAGEVIEWS_STACK_DIR") or cache / "stack")
        creds = load_credentials(root)
        brokers = os.environ.get("PAGEVIEWS_BROKER_PORTS")
        controllers = os.environ.get("PAGEVIEWS_CONTROLLER_PORTS")
        return replace(
            d,
            stack_dir=root,
            broker_ports=tuple(int(p) for p in brokers.split(",")) if brokers else d.broker_ports,
            controller_ports=(
                tuple(int(p) for p in controllers.split(",")) if controllers else d.controller_ports
            ),
            mariadb_port=_env_int("PAGEVIEWS_MARIADB_PORT", d.mariadb_port),
            connect_port=_env_int("PAGEVIEWS_CONNECT_PORT", d.connect_port),
            kafka_version=_env_str("PAGEVIEWS_KAFKA_VERSION", d.kafka_version),
            debezium_version=_env_str("PAGEVIEWS_DEBEZIUM_VERSION", d.debezium_version),
            broker_heap_mb=_env_int("PAGEVIEWS_BROKER_HEAP_MB", d.broker_heap_mb),
            connect_heap_mb=_env_int("PAGEVIEWS_CONNECT_HEAP_MB", d.connect_heap_mb),
            mariadb_root_password=creds["root"],
            cdc_password=creds["cdc"],
            app_user=_env_str("PAGEVIEWS_MARIADB_USER", d.app_user),
            app_password=creds["app"],
            topics=Topics.from_env(),
            flink=FlinkConfig.from_env(),
            pinot=PinotConfig.from_env(),
        )

    def __post_init__(self) -> None:
        if len(self.broker_ports) != len(self.controller_ports) or not self.broker_ports:
            raise ValueError("need one controller port per broker port")

    @property
    def bootstrap(self) -> str:
        return ",".join(f"{HOST}:{p}" for p in self.broker_ports)

    @property
    def nodes(self) -> range:
        """Kafka node ids, 1-based."""
        return range(1, len(self.broker_ports) + 1)

    @property
    def maven_dir(self) -> Path:
        return self.cache / "maven"

    @property
    def plugin_path(self) -> Path:
        return self.maven_dir / "plugins"

    def all_ports(self) -> dict[str, int]:
        ports = {f"kafka-{n}": p for n, p in zip(self.nodes, self.broker_ports, strict=True)}
        ports |= {
            f"kafka-{n}-controller": p
            for n, p in zip(self.nodes, self.controller_ports, strict=True)
        }
        ports |= {name: p[0] for name, p in self.pinot.ports().items()}
        ports["pinot-server-netty"] = self.pinot.server_port
        return ports | {
            "mariadb": self.mariadb_port,
            "connect": self.connect_port,
            "flink-rest": self.flink.rest_port,
        }
