"""Per-record validation against the record model, for producers that write one record at a time.

The embedded runtime validates in DuckDB batches (validation/precise.py); here every record is
checked in Python before it reaches Kafka or MariaDB, with the same rules from `model/records.py`.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from pageviews.model.records import (
    MAX_AHEAD_OF_WALL_CLOCK_MS,
    MIN_EVENT_MS,
    RECORD_TYPES,
    Kind,
    RecordType,
)


class InvalidRecord(ValueError):
    """A record that does not fit the model; the message says which field and why."""


_PLAIN = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def timestamp_ms(value: Any) -> int | None:
    """Epoch ms of a model timestamp, or None if it is not one of the three formats."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    try:
        if _PLAIN.match(value):
            return int(datetime.fromisoformat(value + "+00:00").timestamp() * 1000)
        if _ISO.match(value):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return int(parsed.timestamp() * 1000)
    except ValueError:
        return None
    return None


def record_type(record: Any) -> RecordType:
    if not isinstance(record, dict):
        raise InvalidRecord(f"a record must be a JSON object, got {type(record).__name__}")
    for rtype in RECORD_TYPES:
        if record.get("type") == rtype.name and (rtype.op is None or record.get("op") == rtype.op):
            return rtype
    raise InvalidRecord(f"unknown record type/op: {record.get('type')!r}/{record.get('op')!r}")


def validate(record: Any, now_ms: int | None = None) -> RecordType:
    """Return the record's type, or raise InvalidRecord naming the first bad field."""
    rtype = record_type(record)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    for field in rtype.fields:
        where = f"{rtype.label}.{field.name}"
        if field.name not in record or record[field.name] is None:
            if field.nullable:
                continue
            raise InvalidRecord(f"{where} is missing or null")
        value = record[field.name]
        if field.kind is Kind.STRING:
            if not isinstance(value, str):
                raise InvalidRecord(f"{where} must be a string, got {value!r}")
            if field.choices and value not in field.choices:
                raise InvalidRecord(f"{where} must be one of {field.choices}, got {value!r}")
        elif field.kind is Kind.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidRecord(f"{where} must be an integer, got {value!r}")
            if field.min_value is not None and value < field.min_value:
                raise InvalidRecord(f"{where} must be >= {field.min_value}, got {value}")
            if field.max_value is not None and value > field.max_value:
                raise InvalidRecord(f"{where} must be <= {field.max_value}, got {value}")
        else:
            ms = timestamp_ms(value)
            if ms is None:
                raise InvalidRecord(
                    f"{where} must be 'YYYY-MM-DD HH:MM:SS', ISO 8601 with Z or an offset, "
                    f"or epoch ms; got {value!r}"
                )
            if ms < MIN_EVENT_MS or ms > now_ms + MAX_AHEAD_OF_WALL_CLOCK_MS:
                raise InvalidRecord(f"{where} is out of range (2000 to now + 24h): {value!r}")
    return rtype


def to_sql_datetime(value: Any) -> str:
    """A model timestamp as a UTC 'YYYY-MM-DD HH:MM:SS.fff' for a TIMESTAMP(3) column."""
    ms = timestamp_ms(value)
    if ms is None:
        raise InvalidRecord(f"not a timestamp: {value!r}")
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
