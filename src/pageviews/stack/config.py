"""The stack's configuration: its settings (pageviews.settings) resolved for one stack dir.

Everything binds to 127.0.0.1. Passwords come from the environment, else from the stack dir's
credentials file, and are `SecretStr`: never part of a repr or any log line.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydantic import SecretStr

from pageviews.model.results import DEAD_LETTERS, LATE_EVENTS, RESULT_TABLES
from pageviews.settings import FlinkSettings, PinotSettings, StackSettings, cache_dir

HOST = "127.0.0.1"

# The credentials file's key for each password; unset ones are generated once per stack dir.
CREDENTIAL_KEYS = ("root", "cdc", "app")
CREDENTIALS_FILE = "credentials.json"


def load_credentials(stack_dir: Path, settings: StackSettings) -> dict[str, SecretStr]:
    """Passwords from the environment, else from the stack dir's 0600 file, else new random ones.

    Why a file: the database keeps the passwords it was initialised with, so they must survive
    `down`/`up`; no password is written into the code.
    """
    path = stack_dir / CREDENTIALS_FILE
    stored: dict[str, str] = {}
    if path.exists():
        stored = {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
    missing = [k for k in CREDENTIAL_KEYS if k not in stored]
    if missing:
        stored |= {k: secrets.token_urlsafe(18) for k in missing}
        stack_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(stored, out)
    from_env = {
        "root": settings.mariadb_root_password,
        "cdc": settings.cdc_password,
        "app": settings.app_password,
    }
    return {k: from_env[k] or SecretStr(stored[k]) for k in CREDENTIAL_KEYS}


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
    results: dict[str, str] = field(default_factory=_default_result_topics)
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
class StackConfig:
    """What the stack's code uses: its settings, with the stack dir and passwords resolved."""

    stack_dir: Path
    cache: Path
    broker_ports: tuple[int, ...]
    controller_ports: tuple[int, ...]
    mariadb_port: int
    connect_port: int
    kafka_version: str
    debezium_version: str
    broker_heap_mb: int
    connect_heap_mb: int
    app_user: str
    mariadb_root_password: SecretStr
    cdc_password: SecretStr
    app_password: SecretStr
    topics: Topics
    flink: FlinkSettings
    pinot: PinotSettings
    log4j_version: str = "2.24.3"
    mariadb_database: str = "demo"
    cdc_user: str = "cdc"
    mariadb_server_id: int = 1
    connect_server_id: int = 5401  # Debezium's replica id, distinct from the server's
    connector_name: str = "users-cdc"

    @classmethod
    def from_env(cls, stack_dir: Path | None = None) -> StackConfig:
        settings = StackSettings()
        cache = cache_dir()
        root = stack_dir or settings.stack_dir or cache / "stack"
        creds = load_credentials(root, settings)
        return cls(
            stack_dir=root,
            cache=cache,
            broker_ports=settings.broker_ports,
            controller_ports=settings.controller_ports,
            mariadb_port=settings.mariadb_port,
            connect_port=settings.connect_port,
            kafka_version=settings.kafka_version,
            debezium_version=settings.debezium_version,
            broker_heap_mb=settings.broker_heap_mb,
            connect_heap_mb=settings.connect_heap_mb,
            app_user=settings.app_user,
            mariadb_root_password=creds["root"],
            cdc_password=creds["cdc"],
            app_password=creds["app"],
            topics=Topics.from_env(),
            flink=FlinkSettings(),
            pinot=PinotSettings(),
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
