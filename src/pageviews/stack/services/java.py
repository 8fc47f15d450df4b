"""Java commands: classpath from a fetched component, small heaps, log4j2 to the service's log."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from pageviews.stack.services.process import ServiceError

# Console only: the service's stdout is already its log file. Chatty packages stay at WARN.
LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = console
logger.kafkalog.name = kafka.log
logger.kafkalog.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.cluster.name = kafka.cluster
logger.cluster.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
"""


def java_binary() -> str:
    java = shutil.which("java")
    if java is None:
        raise ServiceError(
            "Java is not on PATH; install a JDK 17+, e.g. apt-get install openjdk-17"
        )
    return java


def java_command(
    classpath_dir: Path,
    main: str,
    args: list[str],
    heap_mb: int,
    log4j_file: Path,
    jvm_flags: Sequence[str] = (),
) -> list[str]:
    if not log4j_file.exists():
        log4j_file.parent.mkdir(parents=True, exist_ok=True)
        log4j_file.write_text(LOG4J2_PROPERTIES)
    return [
        java_binary(),
        f"-Xmx{heap_mb}m",
        "-Xms64m",
        "-XX:+UseG1GC",
        "-XX:MaxMetaspaceSize=192m",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j_file}",
        *jvm_flags,  # after the defaults, so a service can override them
        "-cp",
        f"{classpath_dir}/*",
        main,
        *args,
    ]
