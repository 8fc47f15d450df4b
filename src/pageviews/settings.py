"""Every `PAGEVIEWS_*` environment variable, declared once, with pydantic-settings.

One module at the package root rather than in stack/: the embedded runtime reads some of these
too (the data dir, the cache), and it must not need the stack package. Each class reads its
variables when it is built; an unset or empty variable takes the default. Passwords are
`SecretStr`, so neither a repr nor a log line shows them.

- `CoreSettings`: what every runtime reads.
- `PinotReaderSettings`: where a reader (the dashboard, `query`) finds Pinot, if anywhere.
- `StackSettings`, `FlinkSettings`, `PinotSettings`: the distributed stack. The stack's own
  config object, `stack.config.StackConfig`, is built from them together with what only a stack
  dir knows (the passwords generated once into its credentials file).

The topic names (`PAGEVIEWS_TOPIC_*`) are read by `stack.config.Topics.from_env`, next to the
topic map they fill. `python -m pageviews.settings > docs/settings.md` renders the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from pageviews.model.results import RESULT_TABLES

# Comma-separated in the environment ("9093,9094,9095"), not the JSON pydantic expects.
PortList = Annotated[tuple[int, ...], NoDecode]


def _default_cache() -> Path:
    return Path.home() / ".cache" / "pageviews"


class _EnvSettings(BaseSettings):
    """Frozen; each field names its exact variable (validation_alias); empty counts as unset.

    Only the alias is read: a field is never filled from a variable named after the field
    (no `validate_by_name`), and the prefix keeps a field without an alias off bare names.
    """

    model_config = SettingsConfigDict(
        frozen=True, env_ignore_empty=True, case_sensitive=True, env_prefix="PAGEVIEWS_"
    )


class CoreSettings(_EnvSettings):
    data_dir: Path = Field(
        default=Path("data"),
        validation_alias="PAGEVIEWS_DATA_DIR",
        description="the embedded runtime's data dir (`--data-dir`)",
    )
    cache: Path = Field(
        default_factory=_default_cache,
        validation_alias="PAGEVIEWS_CACHE",
        description="downloads, the Flink venv, bench inputs and the stack dir; outside the repo",
    )
    dashboard_refresh_s: int = Field(
        default=15,
        validation_alias="PAGEVIEWS_REFRESH_S",
        description="dashboard refresh period, seconds",
    )
    query_timeout_s: float = Field(
        default=10.0,
        gt=0,
        validation_alias="PAGEVIEWS_QUERY_TIMEOUT_S",
        description="statement timeout of a read-only query (`pageviews query`, the dashboard,"
        " the run's endpoint), seconds; a longer query is interrupted",
    )


def cache_dir() -> Path:
    """Downloads live outside the repo: $PAGEVIEWS_CACHE, or ~/.cache/pageviews."""
    return CoreSettings().cache


class PinotReaderSettings(_EnvSettings):
    """Set by `--backend stack` for a dashboard child; when set, readers read Pinot."""

    broker_url: str | None = Field(
        default=None,
        validation_alias="PAGEVIEWS_PINOT_BROKER_URL",
        description="Pinot broker URL that readers query instead of the data dir",
    )
    controller_url: str | None = Field(
        default=None,
        validation_alias="PAGEVIEWS_PINOT_CONTROLLER_URL",
        description="Pinot controller URL (table schemas)",
    )


class FlinkSettings(_EnvSettings):
    """The Flink cluster: versions, ports, memory."""

    version: str = Field(
        default="2.2.1",
        validation_alias="PAGEVIEWS_FLINK_VERSION",
        description="the apache-flink wheel, in its own venv under <cache>/flink-venv",
    )
    kafka_connector: str = Field(
        default="5.0.0-2.2",
        validation_alias="PAGEVIEWS_FLINK_KAFKA_CONNECTOR",
        description="org.apache.flink:flink-sql-connector-kafka",
    )
    rest_port: int = Field(default=8081, validation_alias="PAGEVIEWS_FLINK_REST_PORT")
    jobmanager_rpc_port: int = Field(default=6123, validation_alias="PAGEVIEWS_FLINK_RPC_PORT")
    blob_port: int = Field(default=6124, validation_alias="PAGEVIEWS_FLINK_BLOB_PORT")
    taskmanager_rpc_port: int = Field(default=6122, validation_alias="PAGEVIEWS_FLINK_TM_RPC_PORT")
    taskmanager_data_port: int = Field(
        default=6121, validation_alias="PAGEVIEWS_FLINK_TM_DATA_PORT"
    )
    query_ports: str = Field(
        default="6125-6126",
        validation_alias="PAGEVIEWS_FLINK_QUERY_PORTS",
        description="metrics query services of both processes, a range (0: any free port)",
    )
    jobmanager_memory_mb: int = Field(default=768, validation_alias="PAGEVIEWS_FLINK_JM_MEMORY_MB")
    taskmanager_memory_mb: int = Field(
        default=1536, validation_alias="PAGEVIEWS_FLINK_TM_MEMORY_MB"
    )
    task_slots: int = Field(default=2, validation_alias="PAGEVIEWS_FLINK_TASK_SLOTS")
    parallelism: int = Field(
        default=1,
        validation_alias="PAGEVIEWS_FLINK_PARALLELISM",
        description="at most PAGEVIEWS_FLINK_TASK_SLOTS; docs/semantics.md section 12",
    )
    checkpoint_interval_ms: int = Field(
        default=2_000,
        validation_alias="PAGEVIEWS_FLINK_CHECKPOINT_MS",
        description="within (0, 5000]",
    )

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if not 0 < self.checkpoint_interval_ms <= 5_000:
            raise ValueError("the Flink checkpoint interval must be within (0, 5000] ms")
        if self.parallelism > self.task_slots:
            raise ValueError("Flink parallelism needs at least as many task slots")
        return self


class PinotSettings(_EnvSettings):
    """Apache Pinot: version, ports and heaps."""

    # The newest complete Pinot release that Maven Central serves here: pinot-tools and
    # pinot-server stop at 0.11.0 (controller and broker exist at 1.5.1, a server does not).
    version: str = Field(default="0.11.0", validation_alias="PAGEVIEWS_PINOT_VERSION")
    cluster: ClassVar[str] = "PinotCluster"
    zk_port: int = Field(default=2181, validation_alias="PAGEVIEWS_PINOT_ZK_PORT")
    controller_port: int = Field(default=9000, validation_alias="PAGEVIEWS_PINOT_CONTROLLER_PORT")
    broker_port: int = Field(default=8099, validation_alias="PAGEVIEWS_PINOT_BROKER_PORT")
    server_port: int = Field(
        default=8098,
        validation_alias="PAGEVIEWS_PINOT_SERVER_PORT",
        description="Netty query port; Pinot 0.11 binds it on every interface",
    )
    server_admin_port: int = Field(
        default=8097, validation_alias="PAGEVIEWS_PINOT_SERVER_ADMIN_PORT"
    )
    zk_heap_mb: int = Field(default=128, validation_alias="PAGEVIEWS_PINOT_ZK_HEAP_MB")
    controller_heap_mb: int = Field(
        default=384, validation_alias="PAGEVIEWS_PINOT_CONTROLLER_HEAP_MB"
    )
    broker_heap_mb: int = Field(default=256, validation_alias="PAGEVIEWS_PINOT_BROKER_HEAP_MB")
    server_heap_mb: int = Field(default=512, validation_alias="PAGEVIEWS_PINOT_SERVER_HEAP_MB")

    def ports(self) -> dict[str, list[int]]:
        """Ports of each Pinot service, first the one that answers health checks."""
        return {
            "pinot-zookeeper": [self.zk_port],
            "pinot-controller": [self.controller_port],
            "pinot-broker": [self.broker_port],
            "pinot-server": [self.server_admin_port, self.server_port],
        }


class StackSettings(_EnvSettings):
    """Kafka, MariaDB and Connect; unset passwords come from the stack dir (StackConfig)."""

    # A validation error would otherwise quote what it was given, passwords included.
    model_config = SettingsConfigDict(hide_input_in_errors=True)

    stack_dir: Path | None = Field(
        default=None,
        validation_alias="PAGEVIEWS_STACK_DIR",
        description="the stack's data, logs and PIDs (`--stack-dir`); default <cache>/stack",
    )
    broker_ports: PortList = Field(
        default=(9093, 9094, 9095),
        validation_alias="PAGEVIEWS_BROKER_PORTS",
        description="Kafka brokers, comma-separated; one KRaft node each",
    )
    controller_ports: PortList = Field(
        default=(19093, 29093, 39093),
        validation_alias="PAGEVIEWS_CONTROLLER_PORTS",
        description="KRaft controllers, one per broker, away from the brokers' ports",
    )
    mariadb_port: int = Field(default=3307, validation_alias="PAGEVIEWS_MARIADB_PORT")
    connect_port: int = Field(
        default=8083, validation_alias="PAGEVIEWS_CONNECT_PORT", description="Kafka Connect REST"
    )
    kafka_version: str = Field(default="4.1.1", validation_alias="PAGEVIEWS_KAFKA_VERSION")
    debezium_version: str = Field(
        default="3.5.0.Final",
        validation_alias="PAGEVIEWS_DEBEZIUM_VERSION",
        description="the newest Debezium MariaDB connector on Maven Central; built for Kafka 4.1",
    )
    broker_heap_mb: int = Field(default=512, validation_alias="PAGEVIEWS_BROKER_HEAP_MB")
    connect_heap_mb: int = Field(default=512, validation_alias="PAGEVIEWS_CONNECT_HEAP_MB")
    app_user: str = Field(
        default="pageviews",
        validation_alias="PAGEVIEWS_MARIADB_USER",
        description="MariaDB user of the producers (least privilege)",
    )
    mariadb_root_password: SecretStr | None = Field(
        default=None,
        validation_alias="PAGEVIEWS_MARIADB_ROOT_PASSWORD",
        description="unset: generated once into <stack dir>/credentials.json (0600)",
    )
    cdc_password: SecretStr | None = Field(
        default=None,
        validation_alias="PAGEVIEWS_CDC_PASSWORD",
        description="Debezium's MariaDB user; unset: generated as above",
    )
    app_password: SecretStr | None = Field(
        default=None,
        validation_alias="PAGEVIEWS_MARIADB_PASSWORD",
        description="the producers' MariaDB user; unset: generated as above",
    )

    @field_validator("broker_ports", "controller_ports", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(int(port) for port in value.split(","))
        return value


# Read by stack.config.Topics.from_env, whose fields (and the result catalogue) hold the
# defaults; listed here so the reference names every PAGEVIEWS_* variable.
TOPIC_VARIABLES = {
    "PAGEVIEWS_TOPIC_PAGEVIEWS": "page views topic",
    "PAGEVIEWS_TOPIC_SESSIONS": "user sessions topic",
    "PAGEVIEWS_TOPIC_USERS": "users topic, written by Debezium",
    **{
        f"PAGEVIEWS_TOPIC_{table.name.upper()}": f"topic of `{table.name}` (default {table.topic})"
        for table in RESULT_TABLES
    },
}

SETTINGS_CLASSES: tuple[type[_EnvSettings], ...] = (
    CoreSettings,
    PinotReaderSettings,
    StackSettings,
    FlinkSettings,
    PinotSettings,
)


def _shown_default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value: Any = info.default_factory()  # type: ignore[call-arg]
    else:
        value = info.default
    if value is None:
        return ""
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    # The home dir differs per machine; the doc says `~`.
    return f"`{str(value).replace(str(Path.home()), '~')}`"


def variables() -> list[tuple[str, str, str]]:
    """(variable, default as shown in the docs, description) for every PAGEVIEWS_* variable."""
    rows = []
    for settings in SETTINGS_CLASSES:
        for info in settings.model_fields.values():
            if isinstance(info.validation_alias, str):
                rows.append((info.validation_alias, _shown_default(info), info.description or ""))
    rows += [(name, "", text) for name, text in TOPIC_VARIABLES.items()]
    return rows


def render() -> str:
    """docs/settings.md: a table of every variable, generated so it cannot drift."""
    lines = [
        "# Environment variables",
        "",
        "Generated from `src/pageviews/settings.py` by `python -m pageviews.settings`; do not"
        " edit by hand. An unset or empty variable takes the default. The topics' defaults are"
        " the names in the README's flow (`Topics` in `src/pageviews/stack/config.py`).",
        "",
        "| variable | default | what |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {default} | {text} |" for name, default, text in variables()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
