"""Kafka Connect (distributed worker, REST on 127.0.0.1) with the Debezium MariaDB connector.

Connector offsets live in a Kafka topic, so `down`/`up` resumes from the binlog position with no
new snapshot. The CDC password is never sent over REST nor stored in Connect's config topic: the
connector reads it through FileConfigProvider from a 0600 file in the stack dir.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pageviews import http_client
from pageviews.errors import HttpError
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.services.java import java_command
from pageviews.stack.services.process import Service, ServiceError, wait_until

JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"


def connect_dir(config: StackConfig) -> Path:
    return config.stack_dir / "connect"


def service(config: StackConfig) -> Service:
    return Service("connect", config.stack_dir / "run")


def _secrets_file(config: StackConfig) -> Path:
    return connect_dir(config) / "secrets.properties"


def worker_properties(config: StackConfig) -> str:
    rf = str(min(3, len(config.broker_ports)))
    props = {
        "bootstrap.servers": config.bootstrap,
        "group.id": "pageviews-connect",
        "key.converter": JSON_CONVERTER,
        "value.converter": JSON_CONVERTER,
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "config.storage.topic": "pageviews-connect-configs",
        "offset.storage.topic": "pageviews-connect-offsets",
        "status.storage.topic": "pageviews-connect-status",
        "config.storage.replication.factor": rf,
        "offset.storage.replication.factor": rf,
        "status.storage.replication.factor": rf,
        "offset.flush.interval.ms": "1000",
        "listeners": f"http://{HOST}:{config.connect_port}",
        "rest.advertised.host.name": HOST,
        "rest.advertised.port": str(config.connect_port),
        "plugin.path": str(config.plugin_path),
        "plugin.discovery": "only_scan",
        "config.providers": "file",
        "config.providers.file.class": (
            "org.apache.kafka.common.config.provider.FileConfigProvider"
        ),
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def prepare(config: StackConfig) -> None:
    d = connect_dir(config)
    d.mkdir(parents=True, exist_ok=True)
    (d / "worker.properties").write_text(worker_properties(config))
    fd = os.open(_secrets_file(config), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        # Properties escaping: backslashes first, then the separators.
        password = config.cdc_password.get_secret_value()
        value = password.replace("\\", "\\\\").replace("=", "\\=").replace(":", "\\:")
        out.write(f"cdc.password={value}\n")


def start(config: StackConfig) -> None:
    svc = service(config)
    if svc.process() is not None:
        return
    command = java_command(
        config.maven_dir / "connect",
        "org.apache.kafka.connect.cli.ConnectDistributed",
        [str(connect_dir(config) / "worker.properties")],
        config.connect_heap_mb,
        config.stack_dir / "conf" / "log4j2.properties",
    )
    svc.start(command, cwd=connect_dir(config))


def rest(config: StackConfig, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"http://{HOST}:{config.connect_port}{path}"
    return http_client.request(method, url, body, timeout_s=10)


def connector_config(config: StackConfig) -> dict[str, str]:
    db = config.mariadb_database
    prefix = "pageviews"
    return {
        "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "tasks.max": "1",
        "database.hostname": HOST,
        "database.port": str(config.mariadb_port),
        "database.user": config.cdc_user,
        "database.password": f"${{file:{_secrets_file(config)}:cdc.password}}",
        "database.server.id": str(config.connect_server_id),
        "topic.prefix": prefix,
        "database.include.list": db,
        "table.include.list": f"{db}.Users",
        "include.schema.changes": "false",
        "schema.history.internal.kafka.bootstrap.servers": config.bootstrap,
        "schema.history.internal.kafka.topic": f"{prefix}.schema-history",
        "snapshot.mode": "initial",
        "key.converter": JSON_CONVERTER,
        "value.converter": JSON_CONVERTER,
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        # Debezium names the topic <prefix>.<db>.<table>; route it to the configured name.
        "transforms": "route",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": f"{prefix}\\.{db}\\.Users",
        "transforms.route.replacement": config.topics.users,
    }


def wait_healthy(config: StackConfig, timeout_s: float = 120.0) -> None:
    def ready() -> bool:
        return "version" in rest(config, "GET", "/")

    wait_until(ready, service(config), "waiting for the Connect REST API", timeout_s)


def register(config: StackConfig) -> None:
    """PUT the connector's config: creates it, or updates it in place (idempotent)."""
    try:
        rest(config, "PUT", f"/connectors/{config.connector_name}/config", connector_config(config))
    except HttpError as error:
        if error.status is None:
            raise
        raise ServiceError(f"registering connector {config.connector_name}: {error}") from None


def connector_state(config: StackConfig) -> str:
    """RUNNING only when the connector and every task run; else the first other state."""
    status = rest(config, "GET", f"/connectors/{config.connector_name}/status")
    states = [status["connector"]["state"], *(t["state"] for t in status.get("tasks", []))]
    if not status.get("tasks"):
        states.append("NO_TASKS")
    bad = [s for s in states if s != "RUNNING"]
    if bad and "FAILED" in bad:
        traces = [t.get("trace", "") for t in status.get("tasks", []) if t["state"] == "FAILED"]
        raise ServiceError(
            f"connector {config.connector_name} FAILED:\n" + "\n".join(traces)[:3000]
        )
    return bad[0] if bad else "RUNNING"


def wait_connector(config: StackConfig, timeout_s: float = 90.0) -> None:
    wait_until(
        lambda: connector_state(config) == "RUNNING",
        service(config),
        f"waiting for connector {config.connector_name} to run",
        timeout_s,
    )
