"""Apache Flink: its own venv with the apache-flink wheel, and a standalone cluster on 127.0.0.1.

The wheel pins pandas < 2.3 and pyarrow < 21, which clash with the main venv (Streamlit, DuckDB),
so it lives in `<cache>/flink-venv`, made on the first `stack up`. The JobManager and one
TaskManager run through the wheel's own scripts in foreground mode (they `exec` java, so the PID
we record is the JVM's) with our FLINK_CONF_DIR and logs in the stack dir.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pageviews import http_client
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.services.fetch import FetchError
from pageviews.stack.services.process import Service, ServiceError, wait_until

INSTALLED_MARKER = ".installed"

# Java 17 needs these opens for Flink (as the wheel's default config.yaml has them).
JAVA_OPTS = " ".join(
    [
        "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
        "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
        *(
            f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
            for pkg in (
                "java.lang",
                "java.net",
                "java.io",
                "java.nio",
                "sun.nio.ch",
                "java.lang.reflect",
                "java.text",
                "java.time",
                "java.util",
                "java.util.concurrent",
                "java.util.concurrent.atomic",
                "java.util.concurrent.locks",
            )
        ),
    ]
)


def venv_dir(config: StackConfig) -> Path:
    return config.cache / "flink-venv"


def venv_python(config: StackConfig) -> Path:
    return venv_dir(config) / "bin" / "python"


def ensure_venv(config: StackConfig, say: Callable[[str], None]) -> None:
    """Create the Flink venv once per version; pip's downloads are cached in <cache>/pip."""
    marker = venv_dir(config) / INSTALLED_MARKER
    wanted = f"apache-flink=={config.flink.version}"
    if marker.exists() and marker.read_text().strip() == wanted:
        return
    say(f"flink: installing {wanted} into {venv_dir(config)} (once, about 850 MB) ...")
    if not venv_python(config).exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv_dir(config))], check=True)  # noqa: S603
    env = {**os.environ, "PIP_CACHE_DIR": str(config.cache / "pip")}
    result = subprocess.run(  # noqa: S603
        [str(venv_python(config)), "-m", "pip", "install", "--quiet", wanted],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise FetchError(f"pip install {wanted} failed:\n{result.stderr[-2000:]}")
    marker.write_text(wanted + "\n")


def flink_home(config: StackConfig) -> Path:
    """The pyflink package dir: it holds bin/, lib/ and opt/ of a Flink distribution."""
    found = sorted(venv_dir(config).glob("lib/python*/site-packages/pyflink"))
    if not found:
        raise ServiceError(f"no pyflink in {venv_dir(config)}; run `pageviews stack up`")
    return found[0]


def kafka_connector_jar(config: StackConfig) -> Path:
    jars = sorted((config.maven_dir / "flink-kafka").glob("flink-sql-connector-kafka-*.jar"))
    if not jars:
        raise ServiceError("the Flink Kafka connector is not fetched; run `pageviews stack up`")
    return jars[0]


def flink_dir(config: StackConfig) -> Path:
    return config.stack_dir / "flink"


def conf_dir(config: StackConfig) -> Path:
    return flink_dir(config) / "conf"


def log_dir(config: StackConfig) -> Path:
    return flink_dir(config) / "log"


def checkpoint_dir(config: StackConfig) -> Path:
    return flink_dir(config) / "checkpoints"


def services(config: StackConfig) -> list[Service]:
    run = config.stack_dir / "run"
    return [Service("flink-jobmanager", run), Service("flink-taskmanager", run)]


def cluster_config(config: StackConfig) -> dict[str, Any]:
    f = config.flink
    return {
        "env.java.opts.all": JAVA_OPTS,
        "jobmanager.bind-host": HOST,
        "jobmanager.rpc.address": HOST,
        "jobmanager.rpc.port": f.jobmanager_rpc_port,
        "blob.server.port": str(f.blob_port),
        "jobmanager.memory.process.size": f"{f.jobmanager_memory_mb}m",
        "jobmanager.execution.failover-strategy": "region",
        "rest.address": HOST,
        "rest.bind-address": HOST,
        "rest.port": f.rest_port,
        "taskmanager.bind-host": HOST,
        "taskmanager.host": HOST,
        "taskmanager.rpc.port": str(f.taskmanager_rpc_port),
        "taskmanager.data.port": f.taskmanager_data_port,
        "metrics.internal.query-service.port": f.query_ports,
        "taskmanager.numberOfTaskSlots": f.task_slots,
        "taskmanager.memory.process.size": f"{f.taskmanager_memory_mb}m",
        # Little RocksDB/batch use: most of the TM's memory goes to the heap state backend.
        "taskmanager.memory.managed.fraction": 0.1,
        "parallelism.default": f.parallelism,
        "execution.checkpointing.interval": f"{f.checkpoint_interval_ms}ms",
        "execution.checkpointing.dir": checkpoint_dir(config).as_uri(),
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "restart-strategy.type": "fixed-delay",
        "restart-strategy.fixed-delay.attempts": 1000,
        "restart-strategy.fixed-delay.delay": "2s",
        # A killed TaskManager is noticed in seconds, not after the default 50 s.
        "heartbeat.interval": 2000,
        "heartbeat.timeout": 10000,
        "web.submit.enable": "false",
        "io.tmp.dirs": str(flink_dir(config) / "tmp"),
    }


def prepare(config: StackConfig) -> None:
    """Write our FLINK_CONF_DIR: config.yaml (flat keys; JSON is valid YAML) and log4j."""
    conf = conf_dir(config)
    conf.mkdir(parents=True, exist_ok=True)
    for d in (log_dir(config), checkpoint_dir(config), flink_dir(config) / "tmp"):
        d.mkdir(parents=True, exist_ok=True)
    lines = [f"{key}: {json.dumps(value)}" for key, value in cluster_config(config).items()]
    (conf / "config.yaml").write_text("\n".join(lines) + "\n")
    shipped = flink_home(config) / "conf"
    for name in ("log4j-console.properties", "log4j-cli.properties", "log4j.properties"):
        shutil.copyfile(shipped / name, conf / name)


def _env(config: StackConfig) -> dict[str, str]:
    return {
        "FLINK_CONF_DIR": str(conf_dir(config)),
        "FLINK_LOG_DIR": str(log_dir(config)),
        "FLINK_PID_DIR": str(flink_dir(config)),
    }


def start(config: StackConfig) -> None:
    bin_dir = flink_home(config) / "bin"
    jm, tm = services(config)
    if jm.process() is None:
        jm.start(
            ["bash", str(bin_dir / "jobmanager.sh"), "start-foreground"],
            cwd=flink_dir(config),
            env=_env(config),
        )
    if tm.process() is None:
        start_taskmanager(config)


def start_taskmanager(config: StackConfig) -> None:
    tm = services(config)[1]
    tm.start(
        ["bash", str(flink_home(config) / "bin" / "taskmanager.sh"), "start-foreground"],
        cwd=flink_dir(config),
        env=_env(config),
    )


def rest(config: StackConfig, method: str, path: str, body: Any = None) -> Any:
    url = f"http://{HOST}:{config.flink.rest_port}{path}"
    return http_client.request(method, url, body, timeout_s=10)


def free_slots(config: StackConfig) -> tuple[int, int]:
    """(registered TaskManagers, total slots) from the JobManager's REST API."""
    overview = rest(config, "GET", "/overview")
    return int(overview["taskmanagers"]), int(overview["slots-total"])


def wait_healthy(config: StackConfig, timeout_s: float = 120.0) -> None:
    """Healthy = REST answers and the TaskManager has registered its slots."""
    jm, tm = services(config)
    wait_until(lambda: rest(config, "GET", "/config") is not None, jm, "waiting for REST", 90)
    wait_until(
        lambda: free_slots(config)[0] >= 1,
        tm,
        "waiting for the TaskManager to register",
        timeout_s,
    )
