"""Fetch Java components from Maven Central: a small pom and `mvn dependency:copy-dependencies`.

Each component lands in `<cache>/maven/<component>/` with a marker recording what was fetched,
so a second `stack up` skips the download; a changed version list fetches again.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

# Re-exported: the service modules import it from here.
from pageviews.errors import FetchError as FetchError
from pageviews.stack.config import StackConfig

MARKER = ".fetched"


@dataclass(frozen=True)
class Component:
    name: str  # also the folder under <cache>/maven (may contain a slash)
    artifacts: tuple[str, ...]  # "group:artifact:version"
    # "group:artifact" (either may be "*") left out of every artifact's dependency tree
    exclusions: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        # Exclusions count only when present, so components without any keep their old digest.
        text = "\n".join((*self.artifacts, *(f"-{e}" for e in self.exclusions)))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def components(config: StackConfig) -> tuple[Component, ...]:
    k, log4j = config.kafka_version, config.log4j_version
    # Kafka 4.x logs through slf4j 1.7 and ships no backend: add log4j2 ourselves.
    logging = (
        f"org.apache.logging.log4j:log4j-core:{log4j}",
        f"org.apache.logging.log4j:log4j-slf4j-impl:{log4j}",
    )
    return (
        Component("kafka", (f"org.apache.kafka:kafka_2.13:{k}", *logging)),
        Component(
            "connect",
            (
                f"org.apache.kafka:connect-runtime:{k}",
                f"org.apache.kafka:connect-json:{k}",
                *logging,
            ),
        ),
        # One folder per connector under plugin.path, so it gets its own class loader.
        Component(
            "plugins/debezium-connector-mariadb",
            (f"io.debezium:debezium-connector-mariadb:{config.debezium_version}",),
        ),
        # A shaded jar, shipped with each Flink job (pipeline.jars); the wheel has no Kafka.
        Component(
            "flink-kafka",
            (f"org.apache.flink:flink-sql-connector-kafka:{config.flink.kafka_connector}",),
        ),
        Component(
            "pinot",
            (f"org.apache.pinot:pinot-tools:{config.pinot.version}",),
            PINOT_EXCLUSIONS,
        ),
    )


# pinot-tools brings every plugin. The Confluent ones need packages.confluent.io, which is not
# reachable; the cloud, Hadoop and columnar-file ones are unused here and large.
PINOT_EXCLUSIONS = (
    "io.confluent:*",
    "org.apache.pinot:pinot-protobuf",
    "org.apache.pinot:pinot-confluent-avro",
    "org.apache.pinot:pinot-orc",
    "org.apache.pinot:pinot-parquet",
    "org.apache.pinot:pinot-kinesis",
    "org.apache.pinot:pinot-s3",
    "org.apache.pinot:pinot-thrift",
    "org.apache.hadoop:*",
    "software.amazon.awssdk:*",
)


def render_pom(component: Component) -> str:
    deps = []
    for coordinate in component.artifacts:
        group, artifact, version = coordinate.split(":")
        deps.append(
            "    <dependency>"
            f"<groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}</artifactId>"
            f"<version>{escape(version)}</version>{_exclusions(component)}</dependency>"
        )
    body = "\n".join(deps)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pageviews.stack</groupId>
  <artifactId>{escape(component.name.replace("/", "-"))}</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
{body}
  </dependencies>
</project>
"""


def _exclusions(component: Component) -> str:
    if not component.exclusions:
        return ""
    items = []
    for exclusion in component.exclusions:
        group, artifact = exclusion.split(":")
        items.append(
            f"<exclusion><groupId>{escape(group)}</groupId>"
            f"<artifactId>{escape(artifact)}</artifactId></exclusion>"
        )
    return f"<exclusions>{''.join(items)}</exclusions>"


def component_dir(config: StackConfig, component: Component) -> Path:
    return config.maven_dir / component.name


def is_fetched(config: StackConfig, component: Component) -> bool:
    marker = component_dir(config, component) / MARKER
    return marker.exists() and marker.read_text().strip() == component.digest


def fetch_all(config: StackConfig, say: Callable[[str], None] | None = None) -> list[str]:
    """Fetch every missing component; return the names fetched now."""
    fetched = []
    for component in components(config):
        if not is_fetched(config, component):
            fetch(config, component, say)
            fetched.append(component.name)
    return fetched


def fetch(
    config: StackConfig, component: Component, say: Callable[[str], None] | None = None
) -> None:
    say = say or (lambda text: print(text, file=sys.stderr, flush=True))
    mvn = shutil.which("mvn")
    if mvn is None:
        raise FetchError("Maven (mvn) is not on PATH; install it, e.g. apt-get install maven")
    target = component_dir(config, component)
    pom_dir = config.maven_dir / "poms" / component.name
    pom_dir.mkdir(parents=True, exist_ok=True)
    (pom_dir / "pom.xml").write_text(render_pom(component))
    # Download into a fresh folder, then swap it in: a half-finished fetch is never used.
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    say(f"fetching {component.name}: {', '.join(component.artifacts)} ...")
    started = time.monotonic()
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom_dir / "pom.xml"),
        # Keep Maven's own repository in our cache too, not in ~/.m2.
        f"-Dmaven.repo.local={config.maven_dir / 'repository'}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise FetchError(f"mvn failed for {component.name}:\n{tail}")
    jars = list(staging.glob("*.jar"))
    size_mb = sum(j.stat().st_size for j in jars) / 1e6
    (staging / MARKER).write_text(component.digest)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(target)
    say(
        f"fetched {component.name}: {len(jars)} jars, {size_mb:.0f} MB "
        f"in {time.monotonic() - started:.0f}s"
    )
