"""PAGEVIEWS_* variables: every name that worked before still works, passwords stay secret."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pageviews import settings
from pageviews.model.results import RESULT_TABLES
from pageviews.settings import CoreSettings, FlinkSettings, PinotReaderSettings, cache_dir
from pageviews.stack.config import CREDENTIALS_FILE, StackConfig

REPO = Path(__file__).resolve().parent.parent

# Each variable that the stack read before the settings module, and where its value lands.
STACK_VARIABLES: dict[str, tuple[str, Any]] = {
    "PAGEVIEWS_MARIADB_PORT": ("mariadb_port", 4407),
    "PAGEVIEWS_CONNECT_PORT": ("connect_port", 9183),
    "PAGEVIEWS_KAFKA_VERSION": ("kafka_version", "4.0.0"),
    "PAGEVIEWS_DEBEZIUM_VERSION": ("debezium_version", "3.4.0.Final"),
    "PAGEVIEWS_BROKER_HEAP_MB": ("broker_heap_mb", 640),
    "PAGEVIEWS_CONNECT_HEAP_MB": ("connect_heap_mb", 641),
    "PAGEVIEWS_MARIADB_USER": ("app_user", "writer"),
    "PAGEVIEWS_FLINK_VERSION": ("flink.version", "2.2.0"),
    "PAGEVIEWS_FLINK_KAFKA_CONNECTOR": ("flink.kafka_connector", "4.0.0-2.0"),
    "PAGEVIEWS_FLINK_REST_PORT": ("flink.rest_port", 18081),
    "PAGEVIEWS_FLINK_RPC_PORT": ("flink.jobmanager_rpc_port", 16123),
    "PAGEVIEWS_FLINK_BLOB_PORT": ("flink.blob_port", 16124),
    "PAGEVIEWS_FLINK_TM_RPC_PORT": ("flink.taskmanager_rpc_port", 16122),
    "PAGEVIEWS_FLINK_TM_DATA_PORT": ("flink.taskmanager_data_port", 16121),
    "PAGEVIEWS_FLINK_QUERY_PORTS": ("flink.query_ports", "0"),
    "PAGEVIEWS_FLINK_JM_MEMORY_MB": ("flink.jobmanager_memory_mb", 700),
    "PAGEVIEWS_FLINK_TM_MEMORY_MB": ("flink.taskmanager_memory_mb", 1400),
    "PAGEVIEWS_FLINK_TASK_SLOTS": ("flink.task_slots", 4),
    "PAGEVIEWS_FLINK_PARALLELISM": ("flink.parallelism", 2),
    "PAGEVIEWS_FLINK_CHECKPOINT_MS": ("flink.checkpoint_interval_ms", 1_000),
    "PAGEVIEWS_PINOT_VERSION": ("pinot.version", "0.10.0"),
    "PAGEVIEWS_PINOT_ZK_PORT": ("pinot.zk_port", 12181),
    "PAGEVIEWS_PINOT_CONTROLLER_PORT": ("pinot.controller_port", 19000),
    "PAGEVIEWS_PINOT_BROKER_PORT": ("pinot.broker_port", 18099),
    "PAGEVIEWS_PINOT_SERVER_PORT": ("pinot.server_port", 18098),
    "PAGEVIEWS_PINOT_SERVER_ADMIN_PORT": ("pinot.server_admin_port", 18097),
    "PAGEVIEWS_PINOT_ZK_HEAP_MB": ("pinot.zk_heap_mb", 100),
    "PAGEVIEWS_PINOT_CONTROLLER_HEAP_MB": ("pinot.controller_heap_mb", 300),
    "PAGEVIEWS_PINOT_BROKER_HEAP_MB": ("pinot.broker_heap_mb", 200),
    "PAGEVIEWS_PINOT_SERVER_HEAP_MB": ("pinot.server_heap_mb", 400),
    "PAGEVIEWS_TOPIC_PAGEVIEWS": ("topics.pageviews", "views"),
    "PAGEVIEWS_TOPIC_SESSIONS": ("topics.sessions", "sessions"),
    "PAGEVIEWS_TOPIC_USERS": ("topics.users", "users"),
    "PAGEVIEWS_TOPIC_DEAD_LETTERS": ("topics.dead_letters", "dead"),
    "PAGEVIEWS_TOPIC_LATE_EVENTS": ("topics.late_events", "late"),
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PAGEVIEWS_* variable of the caller's shell leaks in; the cache is the test's own."""
    for name in list(os.environ):
        if name.startswith("PAGEVIEWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PAGEVIEWS_CACHE", str(tmp_path / "cache"))


def _attribute(config: object, dotted: str) -> Any:
    for part in dotted.split("."):
        config = getattr(config, part)
    return config


def test_defaults_without_any_variable(tmp_path: Path) -> None:
    config = StackConfig.from_env()
    assert config.cache == tmp_path / "cache"
    assert config.stack_dir == tmp_path / "cache" / "stack"
    assert config.bootstrap == "127.0.0.1:9093,127.0.0.1:9094,127.0.0.1:9095"
    assert config.controller_ports == (19093, 29093, 39093)
    assert (config.mariadb_port, config.connect_port) == (3307, 8083)
    assert (config.flink.rest_port, config.flink.checkpoint_interval_ms) == (8081, 2_000)
    assert (config.pinot.controller_port, config.pinot.broker_port) == (9000, 8099)
    assert config.topics.results == {table.name: table.topic for table in RESULT_TABLES}
    assert CoreSettings().data_dir == Path("data")
    assert PinotReaderSettings().broker_url is None


@pytest.mark.parametrize("variable", sorted(STACK_VARIABLES))
def test_each_variable_still_sets_its_value(
    variable: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attribute, value = STACK_VARIABLES[variable]
    monkeypatch.setenv(variable, str(value))
    assert _attribute(StackConfig.from_env(tmp_path), attribute) == value


def test_lists_dirs_and_reader_urls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAGEVIEWS_BROKER_PORTS", "1093,1094")
    monkeypatch.setenv("PAGEVIEWS_CONTROLLER_PORTS", "2093,2094")
    monkeypatch.setenv("PAGEVIEWS_TOPIC_PAGEVIEW_TUMBLING", "tumbling")
    monkeypatch.setenv("PAGEVIEWS_STACK_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("PAGEVIEWS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PAGEVIEWS_REFRESH_S", "0")
    monkeypatch.setenv("PAGEVIEWS_PINOT_BROKER_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("PAGEVIEWS_PINOT_CONTROLLER_URL", "http://127.0.0.1:2")
    config = StackConfig.from_env()
    assert config.broker_ports == (1093, 1094) and config.controller_ports == (2093, 2094)
    assert config.topics.result("pageview_tumbling") == "tumbling"
    assert config.topics.result("pageview_hopping") == "topic7"
    assert config.stack_dir == tmp_path / "elsewhere"
    # An explicit --stack-dir wins over the variable.
    assert StackConfig.from_env(tmp_path / "flag").stack_dir == tmp_path / "flag"
    core = CoreSettings()
    assert core.data_dir == tmp_path / "data" and core.dashboard_refresh_s == 0
    reader = PinotReaderSettings()
    assert (reader.broker_url, reader.controller_url) == (
        "http://127.0.0.1:1",
        "http://127.0.0.1:2",
    )


def test_empty_means_unset_and_names_are_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEVIEWS_MARIADB_PORT", "")
    monkeypatch.setenv("PAGEVIEWS_CACHE", "")
    # Neither a bare field name nor another case is read.
    monkeypatch.setenv("VERSION", "9.9")
    monkeypatch.setenv("PAGEVIEWS_VERSION", "9.9")
    monkeypatch.setenv("REST_PORT", "1")
    monkeypatch.setenv("pageviews_flink_rest_port", "1")
    assert cache_dir() == Path.home() / ".cache" / "pageviews"
    flink = FlinkSettings()
    assert (flink.version, flink.rest_port) == ("2.2.1", 8081)
    assert settings.StackSettings().mariadb_port == 3307


def test_bad_values_name_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGEVIEWS_MARIADB_PORT", "not-a-port")
    monkeypatch.setenv("PAGEVIEWS_CDC_PASSWORD", "hunter2-secret")
    with pytest.raises(ValidationError, match="PAGEVIEWS_MARIADB_PORT") as error:
        settings.StackSettings()
    assert "hunter2-secret" not in str(error.value)
    monkeypatch.setenv("PAGEVIEWS_FLINK_CHECKPOINT_MS", "6000")
    with pytest.raises(ValueError, match=r"within \(0, 5000\] ms"):
        FlinkSettings()
    monkeypatch.setenv("PAGEVIEWS_FLINK_CHECKPOINT_MS", "1000")
    monkeypatch.setenv("PAGEVIEWS_FLINK_PARALLELISM", "3")
    with pytest.raises(ValueError, match="as many task slots"):
        FlinkSettings()


def test_passwords_are_generated_once_and_never_shown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = StackConfig.from_env(tmp_path)
    path = tmp_path / CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    passwords = [
        first.mariadb_root_password.get_secret_value(),
        first.cdc_password.get_secret_value(),
        first.app_password.get_secret_value(),
    ]
    assert len(set(passwords)) == 3 and all(len(p) >= 20 for p in passwords)
    for password in passwords:
        assert password not in repr(first)
    again = StackConfig.from_env(tmp_path)
    assert again.cdc_password.get_secret_value() == passwords[1]
    # A variable wins over the file, and the file keeps what it had.
    monkeypatch.setenv("PAGEVIEWS_CDC_PASSWORD", "from-env")
    monkeypatch.setenv("PAGEVIEWS_MARIADB_ROOT_PASSWORD", "root-from-env")
    monkeypatch.setenv("PAGEVIEWS_MARIADB_PASSWORD", "app-from-env")
    overridden = StackConfig.from_env(tmp_path)
    assert overridden.cdc_password.get_secret_value() == "from-env"
    assert overridden.mariadb_root_password.get_secret_value() == "root-from-env"
    assert overridden.app_password.get_secret_value() == "app-from-env"
    assert passwords[1] in path.read_text()


def test_settings_reference_is_current() -> None:
    doc = REPO / "docs" / "settings.md"
    assert doc.read_text() == settings.render(), (
        "docs/settings.md is stale: run `.venv/bin/python -m pageviews.settings > docs/settings.md`"
    )
    listed = {name for name, _, _ in settings.variables()}
    assert set(STACK_VARIABLES) | {"PAGEVIEWS_CACHE", "PAGEVIEWS_CDC_PASSWORD"} <= listed


# A variable's name as code and docs quote it: "NAME", 'NAME', `NAME` or $NAME (not NAME_*).
QUOTED_VARIABLE = re.compile(r"""[`"'$](PAGEVIEWS_[A-Z0-9_]*[A-Z0-9])(?![A-Z0-9_*])""")


def test_every_variable_the_code_or_docs_name_is_declared() -> None:
    files = [REPO / "README.md", REPO / "Makefile", *sorted((REPO / "docs").glob("*.md"))]
    files += sorted((REPO / "src" / "pageviews").rglob("*.py"))
    declared = {name for name, _, _ in settings.variables()}
    named = {
        (path.relative_to(REPO).as_posix(), name)
        for path in files
        for name in QUOTED_VARIABLE.findall(path.read_text())
    }
    assert {name for _, name in named} >= {"PAGEVIEWS_CACHE", "PAGEVIEWS_DATA_DIR"}
    assert sorted((path, name) for path, name in named if name not in declared) == []
