"""Apache Pinot on 127.0.0.1: ZooKeeper, controller, broker and server, one process each.

Separate processes, so `stack status` reports each and a crash names its service. ZooKeeper
runs from the jar Pinot brings (ZooKeeperServerMain), since that one can bind to 127.0.0.1;
Pinot's own StartZookeeper cannot. Every HTTP listener is bound to 127.0.0.1 through its
`*.access.protocols.http.host` key. The server's Netty query port has no such setting in 0.11:
the server runs with a preload library that turns its wildcard binds into loopback ones
(loopback.py).

Data (ZooKeeper, the controller's segment store, the server's segments) lives under
<stack>/pinot, so tables and committed segments survive `down`/`up`.
"""

from __future__ import annotations

import socket
from pathlib import Path

from pageviews import http_client
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.services import loopback
from pageviews.stack.services.java import java_command
from pageviews.stack.services.process import Service, wait_until

ADMIN = "org.apache.pinot.tools.admin.PinotAdministrator"
ZOOKEEPER = "org.apache.zookeeper.server.ZooKeeperServerMain"

# Java 17: Pinot's off-heap buffers and Netty reach into JDK internals.
JAVA17_FLAGS = (
    *(
        f"--add-opens=java.base/{package}=ALL-UNNAMED"
        for package in (
            "java.nio",
            "sun.nio.ch",
            "java.lang",
            "java.util",
            "java.lang.reflect",
            "jdk.internal.misc",
        )
    ),
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-XX:MaxMetaspaceSize=256m",
)

DECODE_ERRORS_LOG = "decode-errors.log"
# The JSON decoder logs a payload it cannot parse and drops it; 0.11 has no setting to stop
# or to count it outside JMX. Its logger also writes to its own file, which status counts.
DECODER_LOGGER = "org.apache.pinot.plugin.inputformat.json.JSONMessageDecoder"

LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
appender.decode.type = File
appender.decode.name = decode
appender.decode.fileName = {decode_log}
appender.decode.layout.type = PatternLayout
appender.decode.layout.pattern = [%d] %m%n
appender.decode.layout.alwaysWriteExceptions = false
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = console
logger.decoder.name = {decoder}
logger.decoder.level = ERROR
logger.decoder.appenderRef.decode.ref = decode
logger.helix.name = org.apache.helix
logger.helix.level = WARN
logger.zookeeper.name = org.apache.zookeeper
logger.zookeeper.level = WARN
# Health probes (`ruok`) close at once; ZooKeeper warns about each.
logger.zkcnxn.name = org.apache.zookeeper.server.NIOServerCnxn
logger.zkcnxn.level = ERROR
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""

NAMES = ("pinot-zookeeper", "pinot-controller", "pinot-broker", "pinot-server")


def pinot_dir(config: StackConfig) -> Path:
    return config.stack_dir / "pinot"


def service(config: StackConfig, name: str) -> Service:
    return Service(name, config.stack_dir / "run")


def services(config: StackConfig) -> list[Service]:
    return [service(config, name) for name in NAMES]


def decode_errors_log(config: StackConfig) -> Path:
    return pinot_dir(config) / DECODE_ERRORS_LOG


def _properties(values: dict[str, str | int | Path]) -> str:
    return "".join(f"{k}={v}\n" for k, v in values.items())


def config_files(config: StackConfig) -> dict[str, str]:
    """File name under <stack>/pinot -> content, for each service's configuration."""
    p, d = config.pinot, pinot_dir(config)
    zk = f"{HOST}:{p.zk_port}"
    return {
        "zoo.cfg": _properties(
            {
                "dataDir": d / "zookeeper",
                "clientPort": p.zk_port,
                "clientPortAddress": HOST,
                "admin.enableServer": "false",  # its Jetty would take port 8080 on 0.0.0.0
                "tickTime": 2000,
                "maxClientCnxns": 0,
                "4lw.commands.whitelist": "ruok,srvr",
                "autopurge.purgeInterval": 1,
            }
        ),
        "controller.conf": _properties(
            {
                "controller.helix.cluster.name": p.cluster,
                "controller.zk.str": zk,
                "controller.host": HOST,
                "controller.port": p.controller_port,
                "controller.access.protocols": "http",
                "controller.access.protocols.http.port": p.controller_port,
                "controller.access.protocols.http.host": HOST,
                "controller.data.dir": d / "controller-data",
                "controller.local.temp.dir": d / "controller-tmp",
                "pinot.set.instance.id.to.hostname": "true",
            }
        ),
        "broker.conf": _properties(
            {
                "pinot.broker.client.queryPort": p.broker_port,
                "pinot.broker.client.access.protocols": "http",
                "pinot.broker.client.access.protocols.http.port": p.broker_port,
                "pinot.broker.client.access.protocols.http.host": HOST,
                "pinot.broker.hostname": HOST,
                "pinot.broker.timeoutMs": 10000,
                # No clients to drain on a local stack: stop at once (default: wait 10 s).
                "pinot.broker.delayShutdownTimeMs": 0,
                "pinot.set.instance.id.to.hostname": "true",
            }
        ),
        "server.conf": _properties(
            {
                "pinot.server.netty.host": HOST,
                "pinot.server.netty.port": p.server_port,
                "pinot.server.adminapi.port": p.server_admin_port,
                "pinot.server.adminapi.access.protocols": "http",
                "pinot.server.adminapi.access.protocols.http.port": p.server_admin_port,
                "pinot.server.adminapi.access.protocols.http.host": HOST,
                "pinot.server.instance.dataDir": d / "server-data",
                "pinot.server.instance.segmentTarDir": d / "server-segments",
                "pinot.server.grpc.enable": "false",
                # A local stack: shut down at once instead of draining queries for minutes.
                "pinot.server.shutdown.enableQueryCheck": "false",
                "pinot.server.shutdown.enableResourceCheck": "false",
                "pinot.server.shutdown.timeoutMs": 10000,
                "pinot.set.instance.id.to.hostname": "true",
            }
        ),
        "log4j2.properties": LOG4J2.format(
            decode_log=decode_errors_log(config), decoder=DECODER_LOGGER
        ),
    }


def prepare(config: StackConfig) -> None:
    d = pinot_dir(config)
    d.mkdir(parents=True, exist_ok=True)
    for name, text in config_files(config).items():
        (d / name).write_text(text)


def _command(config: StackConfig, name: str) -> list[str]:
    p, d = config.pinot, pinot_dir(config)
    zk = f"{HOST}:{p.zk_port}"
    main, args, heap = {
        "pinot-zookeeper": (ZOOKEEPER, [str(d / "zoo.cfg")], p.zk_heap_mb),
        "pinot-controller": (
            ADMIN,
            ["StartController", "-configFileName", str(d / "controller.conf")],
            p.controller_heap_mb,
        ),
        "pinot-broker": (
            ADMIN,
            ["StartBroker", "-zkAddress", zk, "-clusterName", p.cluster]
            + ["-configFileName", str(d / "broker.conf")],
            p.broker_heap_mb,
        ),
        "pinot-server": (
            ADMIN,
            ["StartServer", "-zkAddress", zk, "-clusterName", p.cluster]
            + ["-configFileName", str(d / "server.conf")],
            p.server_heap_mb,
        ),
    }[name]
    return java_command(
        config.maven_dir / "pinot", main, args, heap, d / "log4j2.properties", JAVA17_FLAGS
    )


def start(config: StackConfig, names: tuple[str, ...]) -> None:
    """Start the named services that are not running."""
    for name in names:
        svc = service(config, name)
        if svc.process() is None:
            env = {}
            if name == "pinot-server":
                env["LD_PRELOAD"] = str(loopback.build(say=lambda _text: None))
            svc.start(_command(config, name), cwd=pinot_dir(config), env=env)


def zk_ok(config: StackConfig) -> bool:
    with socket.create_connection((HOST, config.pinot.zk_port), timeout=2) as sock:
        sock.sendall(b"ruok")
        return sock.recv(16) == b"imok"


def healthy(config: StackConfig, name: str) -> bool:
    """One probe of a service's own health endpoint (ZooKeeper: `ruok`)."""
    try:
        if name == "pinot-zookeeper":
            return zk_ok(config)
        port = config.pinot.ports()[name][0]
        return http_client.probe_text(f"http://{HOST}:{port}/health", timeout_s=3) == "OK"
    except OSError:
        return False


def wait_healthy(config: StackConfig, names: tuple[str, ...], timeout_s: float = 180.0) -> None:
    for name in names:
        wait_until(
            lambda name=name: healthy(config, name),  # type: ignore[misc]
            service(config, name),
            "waiting for its health check",
            timeout_s,
        )


def instances(config: StackConfig) -> list[str]:
    """Instances the controller knows, e.g. Server_127.0.0.1_8098."""
    url = f"http://{HOST}:{config.pinot.controller_port}/instances"
    return list(http_client.get(url, timeout_s=5)["instances"])


def wait_server_registered(config: StackConfig, timeout_s: float = 60.0) -> None:
    """Tables can be placed only once the server has joined the cluster as an instance."""
    want = f"Server_{HOST}_{config.pinot.server_port}"
    wait_until(
        lambda: want in instances(config),
        service(config, "pinot-server"),
        f"waiting for {want} to join the cluster",
        timeout_s,
    )


def _ready_marker(config: StackConfig) -> Path:
    return pinot_dir(config) / "cluster.ready"


def cluster_ready(config: StackConfig) -> bool:
    """True once a previous `up` set the cluster up in this stack dir's ZooKeeper data."""
    return _ready_marker(config).exists()


def mark_cluster_ready(config: StackConfig) -> None:
    _ready_marker(config).write_text("set up by the controller; tables created\n")


def decode_errors(config: StackConfig) -> list[str]:
    """Lines the JSON decoder logged for payloads it dropped, oldest first."""
    try:
        text = decode_errors_log(config).read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines() if "discarding row" in line]
