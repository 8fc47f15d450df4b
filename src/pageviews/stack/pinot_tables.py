"""Pinot schemas and REALTIME table configs, generated from the result catalogue, and their
idempotent creation over the controller's REST API.

Window tables and cleaned_users are upsert tables (FULL, keyed by the contract's key columns,
low-level consumer, strictReplicaGroup routing, as 0.11 requires for upserts); late_events and
dead_letters append. Each table consumes its result topic as JSON from the earliest offset.
"""

from __future__ import annotations

from typing import Any

from pageviews import http_client
from pageviews.errors import HttpError
from pageviews.model.results import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INT,
    MS,
    RESULT_TABLES,
    STACK,
    STRING,
    ResultTable,
)
from pageviews.stack.config import HOST, StackConfig
from pageviews.stack.services.process import ServiceError

PINOT_TYPES = {
    BIGINT: "LONG",
    INT: "INT",
    DOUBLE: "DOUBLE",
    STRING: "STRING",
    BOOLEAN: "BOOLEAN",
    MS: "LONG",
}

CONSUMER_FACTORY = "org.apache.pinot.plugin.stream.kafka20.KafkaConsumerFactory"
JSON_DECODER = "org.apache.pinot.plugin.stream.kafka.KafkaJSONMessageDecoder"


# Pinot cuts strings to 512 characters unless told otherwise; an input line may be 64 KiB.
LONG_TEXT_COLUMNS = {"raw", "reason"}
LONG_TEXT_MAX_LENGTH = 65_536


def schema(table: ResultTable) -> dict[str, Any]:
    dimensions, times = [], []
    for column in table.columns_of(STACK):
        spec: dict[str, Any] = {"name": column.name, "dataType": PINOT_TYPES[column.type]}
        if column.name in LONG_TEXT_COLUMNS:
            spec["maxLength"] = LONG_TEXT_MAX_LENGTH
        if column.type == MS:
            spec |= {"format": "1:MILLISECONDS:EPOCH", "granularity": "1:MILLISECONDS"}
            times.append(spec)
        else:
            dimensions.append(spec)
    result: dict[str, Any] = {
        "schemaName": table.name,
        "dimensionFieldSpecs": dimensions,
        "dateTimeFieldSpecs": times,
    }
    if table.upsert:
        result["primaryKeyColumns"] = list(table.key)
    return result


def table_config(config: StackConfig, table: ResultTable) -> dict[str, Any]:
    stream = {
        "streamType": "kafka",
        "stream.kafka.consumer.type": "lowlevel",
        "stream.kafka.topic.name": config.topics.result(table.name),
        "stream.kafka.broker.list": config.bootstrap,
        "stream.kafka.consumer.factory.class.name": CONSUMER_FACTORY,
        "stream.kafka.decoder.class.name": JSON_DECODER,
        "stream.kafka.consumer.prop.auto.offset.reset": "smallest",
        # Small tables: commit a segment hourly, so a restart re-reads at most an hour.
        "realtime.segment.flush.threshold.rows": "200000",
        "realtime.segment.flush.threshold.time": "1h",
    }
    result: dict[str, Any] = {
        "tableName": table.name,
        "tableType": "REALTIME",
        "segmentsConfig": {
            "schemaName": table.name,
            "timeColumnName": table.time_column,
            "timeType": "MILLISECONDS",
            "replication": "1",
            "replicasPerPartition": "1",
        },
        "tenants": {},
        "tableIndexConfig": {
            "loadMode": "MMAP",
            # Keeps which values were null, so `age IS NULL` works; selects still show the
            # column's default null value, which the store turns back into None.
            "nullHandlingEnabled": True,
            "streamConfigs": stream,
        },
        "metadata": {},
    }
    if table.upsert:
        result["upsertConfig"] = {"mode": "FULL"}
        result["routing"] = {"instanceSelectorType": "strictReplicaGroup"}
    return result


def controller(
    config: StackConfig, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    url = f"http://{HOST}:{config.pinot.controller_port}{path}"
    return http_client.request(method, url, body, timeout_s=30)


def _get_or_none(config: StackConfig, path: str) -> Any:
    try:
        return controller(config, "GET", path)
    except HttpError as error:
        if error.status == 404:
            return None
        raise


def differences(want: Any, have: Any, path: str = "") -> list[str]:
    """Where `have` lacks or differs from what `want` sets (the controller adds defaults)."""
    if isinstance(want, dict) and isinstance(have, dict):
        return [
            d
            for key, value in want.items()
            for d in differences(value, have.get(key), f"{path}.{key}")
        ]
    if isinstance(want, list) and isinstance(have, list) and len(want) == len(have):
        return [
            d
            for i, (w, h) in enumerate(zip(want, have, strict=True))
            for d in differences(w, h, f"{path}[{i}]")
        ]
    # The controller may echo scalars as strings ("1" vs 1, true vs "true").
    if want == have or (have is not None and str(want).lower() == str(have).lower()):
        return []
    return [f"{path or '.'}: want {want!r}, have {have!r}"]


def _send(config: StackConfig, method: str, path: str, body: dict[str, Any], what: str) -> None:
    try:
        controller(config, method, path, body)
    except HttpError as error:
        if error.status is None:
            raise
        raise ServiceError(f"pinot: {what} failed: {error}") from None


def ensure_tables(config: StackConfig) -> dict[str, str]:
    """Create missing schemas and tables; update ones that differ. Returns {table: action}.

    Pinot checks an update itself and refuses incompatible ones (a changed primary key, a
    removed column); that refusal is raised as a ServiceError with the controller's reason.
    """
    actions: dict[str, str] = {}
    for table in RESULT_TABLES:
        want_schema = schema(table)
        have_schema = _get_or_none(config, f"/schemas/{table.name}")
        if have_schema is None:
            _send(config, "POST", "/schemas", want_schema, f"adding schema {table.name}")
            schema_action = "created"
        elif differences(want_schema, have_schema):
            _send(
                config,
                "PUT",
                f"/schemas/{table.name}",
                want_schema,
                f"updating schema {table.name}",
            )
            schema_action = "updated"
        else:
            schema_action = "unchanged"

        want_table = table_config(config, table)
        have = _get_or_none(config, f"/tables/{table.name}?type=realtime") or {}
        have_table = have.get("REALTIME")
        if not have_table:
            _send(config, "POST", "/tables", want_table, f"adding table {table.name}")
            actions[table.name] = "created"
        elif differences(want_table | {"tableName": f"{table.name}_REALTIME"}, have_table):
            _send(
                config, "PUT", f"/tables/{table.name}", want_table, f"updating table {table.name}"
            )
            actions[table.name] = "updated"
        else:
            actions[table.name] = "updated" if schema_action == "updated" else "unchanged"
    return actions


def table_names(config: StackConfig) -> list[str]:
    return list(controller(config, "GET", "/tables")["tables"])


def segment_errors(config: StackConfig, table: str) -> list[str]:
    """Errors servers recorded while consuming `table` (a row that failed to transform)."""
    info = controller(config, "GET", f"/debug/tables/{table}?type=REALTIME&verbosity=1")
    found = []
    for table_info in info if isinstance(info, list) else [info]:
        for segment in table_info.get("segmentDebugInfos", []) or []:
            for server, state in (segment.get("serverState") or {}).items():
                error = (state or {}).get("errorInfo") or {}
                if error:
                    # errorInfo holds a segment's latest error only; the message's first line
                    # names the failure, the rest dumps the record.
                    message = str(error.get("errorMessage", "")).splitlines()[0]
                    found.append(f"{segment.get('segmentName')} on {server}: {message}")
    return found
