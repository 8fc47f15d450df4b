"""Kafka 4.x in KRaft mode: three combined broker+controller nodes on 127.0.0.1, and topics."""

from __future__ import annotations

import base64
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from pageviews.stack.config import HOST, StackConfig, Topics
from pageviews.stack.services.java import java_command
from pageviews.stack.services.process import Service, ServiceError, port_open, wait_until


def kafka_dir(config: StackConfig) -> Path:
    return config.stack_dir / "kafka"


def node_service(config: StackConfig, node: int) -> Service:
    return Service(f"kafka-{node}", config.stack_dir / "run")


def services(config: StackConfig) -> list[Service]:
    return [node_service(config, n) for n in config.nodes]


def cluster_id(config: StackConfig) -> str:
    """One cluster id for every node, made once (Kafka's Uuid format: base64url of 16 bytes)."""
    path = kafka_dir(config) / "cluster.id"
    if path.exists():
        return path.read_text().strip()
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # as Kafka's Uuid.randomUuid: a leading dash confuses CLIs
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cid + "\n")
    return cid


def server_properties(config: StackConfig, node: int) -> str:
    broker = config.broker_ports[node - 1]
    controller = config.controller_ports[node - 1]
    voters = ",".join(
        f"{n}@{HOST}:{p}" for n, p in zip(config.nodes, config.controller_ports, strict=True)
    )
    rf = min(3, len(config.broker_ports))
    data = kafka_dir(config) / f"node-{node}" / "data"
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node),
        # A static quorum: never combined with controller.quorum.bootstrap.servers.
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://{HOST}:{broker},CONTROLLER://{HOST}:{controller}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{broker}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": str(config.topics.partitions),
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(min(2, rf)),
        "offsets.topic.replication.factor": str(rf),
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(min(2, rf)),
        # Topics are made on purpose, with their settings; a typo must not create one.
        "auto.create.topics.enable": "false",
        "unclean.leader.election.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "num.network.threads": "2",
        "num.io.threads": "4",
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def _props_file(config: StackConfig, node: int) -> Path:
    return kafka_dir(config) / f"node-{node}" / "server.properties"


def _log4j(config: StackConfig) -> Path:
    return config.stack_dir / "conf" / "log4j2.properties"


def prepare(config: StackConfig) -> None:
    """Write each node's properties; format its storage once (data survives down/up)."""
    cid = cluster_id(config)
    classpath = config.maven_dir / "kafka"
    for node in config.nodes:
        props = _props_file(config, node)
        props.parent.mkdir(parents=True, exist_ok=True)
        props.write_text(server_properties(config, node))
        data = kafka_dir(config) / f"node-{node}" / "data"
        if (data / "meta.properties").exists():
            continue
        command = java_command(
            classpath,
            "kafka.tools.StorageTool",
            ["format", "-t", cid, "-c", str(props)],
            256,
            _log4j(config),
        )
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise ServiceError(
                f"formatting kafka node {node} failed:\n{result.stdout}{result.stderr}"
            )


def start(config: StackConfig) -> None:
    """Start every node that is not running; all together, since a quorum needs a majority."""
    for node in config.nodes:
        service = node_service(config, node)
        if service.process() is not None:
            continue
        command = java_command(
            config.maven_dir / "kafka",
            "kafka.Kafka",
            [str(_props_file(config, node))],
            config.broker_heap_mb,
            _log4j(config),
        )
        service.start(command, cwd=kafka_dir(config) / f"node-{node}")


def admin(config: StackConfig) -> AdminClient:
    return AdminClient({"bootstrap.servers": config.bootstrap, "socket.timeout.ms": 5000})


def live_brokers(config: StackConfig, timeout_s: float = 5.0) -> set[int]:
    # Probe ports first: a client on closed ports fills the terminal with librdkafka errors.
    if not any(port_open(p) for p in config.broker_ports):
        return set()
    meta = admin(config).list_topics(timeout=timeout_s)
    return set(meta.brokers)


def wait_healthy(config: StackConfig, timeout_s: float = 90.0) -> None:
    """Healthy = every node is registered as a broker with the quorum."""
    expected = set(config.nodes)
    for service in services(config):
        wait_until(
            lambda: live_brokers(config) >= expected,
            service,
            "waiting for all brokers to join the cluster",
            timeout_s,
        )


def ensure_topics(config: StackConfig, topics: Topics | None = None) -> list[str]:
    """Create missing topics (5 partitions, RF 3, min ISR 2); check the ones that exist.

    An existing topic with fewer partitions or replicas than configured is an error: keyed
    order and durability depend on them, and Kafka cannot lower either in place.
    """
    topics = topics or config.topics
    client = admin(config)
    rf = min(topics.replication, len(config.broker_ports))
    existing = set(client.list_topics(timeout=10).topics)
    new = [
        NewTopic(
            name,
            num_partitions=topics.partitions,
            replication_factor=rf,
            config={"min.insync.replicas": str(min(topics.min_insync, rf))},
        )
        for name in topics.all()
        if name not in existing
    ]
    created = []
    for name, future in (client.create_topics(new, request_timeout=30) if new else {}).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as error:
            # The broker we listed from may not have seen a topic that another broker had.
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    for name in set(topics.all()) - set(created):
        _check_layout(client, name, topics.partitions, rf)
    return created


def _check_layout(client: AdminClient, name: str, partitions_needed: int, rf: int) -> None:
    partitions: dict[int, Any] = {}
    # Metadata reaches each broker a moment after creation: ask until it lists partitions.
    for _ in range(50):
        topic = client.list_topics(topic=name, timeout=10).topics.get(name)
        if topic is not None and topic.error is None and topic.partitions:
            partitions = topic.partitions
            break
        time.sleep(0.1)
    replicas = min((len(p.replicas) for p in partitions.values()), default=0)
    if len(partitions) != partitions_needed or replicas < rf:
        raise ServiceError(
            f"topic {name} exists with {len(partitions)} partitions and replication "
            f"{replicas}; pageviews needs {partitions_needed} and {rf}. Delete it, or "
            "point PAGEVIEWS_TOPIC_* at another name."
        )
