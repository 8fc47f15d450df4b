"""Per-record validation, for producers that write one record at a time (the stack's).

The embedded runtime validates in DuckDB batches (validation/precise.py). Here a line, or a
record already read, is checked in Python before it reaches Kafka or MariaDB, by the same rules
in the same order (model/records.py, model/reasons.py), and a refusal carries the same reason
text. tests/test_conformance.py holds both to the golden lines of tests/conformance/.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from pageviews.model import reasons
from pageviews.model.calendar import days_from_civil, days_in_month
from pageviews.model.reasons import Check
from pageviews.model.records import (
    BLANK_CHARACTERS,
    MAX_AHEAD_OF_WALL_CLOCK_MS,
    MAX_INT64,
    MAX_LINE_BYTES,
    MIN_EVENT_MS,
    MIN_INT64,
    RECORD_TYPES,
    TIMESTAMP_PATTERN,
    TYPE_NAMES,
    UTC_DESIGNATOR,
    Field,
    Kind,
    RecordType,
)
from pageviews.validation import json_text


class InvalidRecord(ValueError):
    """A line or record that does not fit the model; the message is its dead-letter reason."""


_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)


def _string_ms(value: str) -> int | None:
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    # The pattern holds the time's ranges and the offset limit; the date must exist.
    if not (1 <= month <= 12 and 1 <= day <= days_in_month(year, month)):
        return None
    fraction, zone = match.group(1), match.group(2)
    # Microseconds (further digits are dropped), then rounded to the nearest millisecond.
    micros = int((fraction[1:] + "000000")[:6]) if fraction else 0
    offset_minutes = 0
    if zone and zone != UTC_DESIGNATOR:
        digits = zone[1:].replace(":", "")
        offset_minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
        if zone[0] == "-":
            offset_minutes = -offset_minutes
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return (seconds - offset_minutes * 60) * 1000 + (micros + 500) // 1000


def _integer(value: Any) -> int | None:
    """A JSON integer that fits in 64 bits, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and MIN_INT64 <= value <= MAX_INT64:
        return value
    return None


def timestamp_ms(value: Any) -> int | None:
    """Epoch ms of a model timestamp (a string of the grammar, or integer epoch ms), else None."""
    if isinstance(value, str):
        return _string_ms(value)
    return _integer(value)


def _breaks(check: Check, field: Field, value: Any, number: int | None, now_ms: int) -> bool:
    """Whether a present, non-null value breaks `check` (a rule of model/reasons.py); `number`
    is its integer, or its epoch ms for a timestamp (None if it has none)."""
    match check:
        case Check.MISSING:
            return False
        case Check.NOT_A_STRING:
            return not isinstance(value, str)
        case Check.NOT_AN_INTEGER | Check.BAD_TIMESTAMP:
            return number is None
        case Check.OUT_OF_RANGE:
            assert number is not None
            low, high = field.min_value, field.max_value
            return (low is not None and number < low) or (high is not None and number > high)
        case Check.TOO_EARLY:
            assert number is not None
            return number < MIN_EVENT_MS
        case Check.TOO_LATE:
            assert number is not None
            return number > now_ms + MAX_AHEAD_OF_WALL_CLOCK_MS
        case Check.NOT_A_CHOICE:
            return value not in field.choices
    raise AssertionError(check)


# Each record type's fields with their rules, computed once (by label: hashing is cheap).
_RULES = {
    rtype.label: [(field, reasons.field_rules(field)) for field in rtype.fields]
    for rtype in RECORD_TYPES
}


def _refuse(reason: reasons.Reason, value: Any = None) -> InvalidRecord:
    return InvalidRecord(reason.text(None if value is None else json_text.text(value)))


def record_type(record: Any) -> RecordType:
    """The record type by `type` (and `op`); raises InvalidRecord with the tag's reason."""
    if not isinstance(record, dict):
        raise InvalidRecord(reasons.NOT_AN_OBJECT.text(reasons.JSON_KINDS[json_text.kind(record)]))
    tag = record.get("type")
    if tag is None:
        raise _refuse(reasons.TYPE_MISSING)
    if not isinstance(tag, str) or tag not in TYPE_NAMES:
        raise _refuse(reasons.UNKNOWN_TYPE, tag)
    candidates = [rtype for rtype in RECORD_TYPES if rtype.name == tag]
    if candidates[0].op is None:
        return candidates[0]
    op = record.get("op")
    if not isinstance(op, str):
        raise _refuse(reasons.OP_MISSING, op)
    for rtype in candidates:
        if rtype.op == op:
            return rtype
    raise _refuse(reasons.OP_UNKNOWN, op)


def validate(record: Any, now_ms: int | None = None) -> RecordType:
    """The record's type; raises InvalidRecord with the reason of the first rule it breaks.

    `now_ms` is the clock at arrival (default: now) for the "ahead of the clock" rule."""
    rtype = record_type(record)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    for field, rules in _RULES[rtype.label]:
        value = record.get(field.name)
        if value is None:
            if not field.nullable:
                raise _refuse(reasons.missing(field.name))
            continue
        number = None
        if field.kind is Kind.INTEGER:
            number = _integer(value)
        elif field.kind is Kind.TIMESTAMP:
            number = timestamp_ms(value)
        for rule in rules:
            if _breaks(rule.check, field, value, number, now_ms):
                raise _refuse(rule.reason, value)
    return rtype


def validate_line(line: str, now_ms: int | None = None) -> tuple[RecordType, dict[str, Any]]:
    """A raw input line as a record with its type; raises InvalidRecord with the reason."""
    # A line of at most MAX/4 characters cannot exceed MAX bytes: skip the encode.
    if len(line) > MAX_LINE_BYTES // 4 and len(line.encode(errors="surrogatepass")) > (
        MAX_LINE_BYTES
    ):
        raise _refuse(reasons.LINE_TOO_LONG)
    if not line.strip(BLANK_CHARACTERS):
        raise _refuse(reasons.EMPTY_LINE)
    try:
        record = json_text.parse(line)
    except json_text.NotJson:
        raise _refuse(reasons.NOT_JSON) from None
    rtype = validate(record, now_ms)
    return rtype, record


def to_sql_datetime(value: Any) -> str:
    """A model timestamp as a UTC 'YYYY-MM-DD HH:MM:SS.fff' for a TIMESTAMP(3) column."""
    ms = timestamp_ms(value)
    if ms is None:
        raise InvalidRecord(f"not a timestamp: {value!r}")
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
