"""The fast path of validation: accept the common, plain lines with the cheapest checks.

A line is accepted here only when every check passes in its simplest form: a line that starts
with "{" and is valid JSON, a known type, enum values spelled out, strings without escapes,
integers as plain digits, timestamps in range. Its typed values are then exactly those the
precise checks (engine/validate.py) would give. Every other line is marked pending, and the
precise checks decide it and say why it is bad. So this path may be strict, never lenient.

Enum fields are read as VARCHAR straight from the parse: only a JSON string can read as one
of their values. Other fields are read as raw JSON text (engine/json_values.py), where a
string can be told from a number.
"""

from __future__ import annotations

import json
from functools import cache

from pageviews.engine import json_values as jv
from pageviews.model import (
    MAX_AHEAD_OF_WALL_CLOCK_MS,
    MAX_LINE_BYTES,
    MIN_EVENT_MS,
    RECORD_TYPES,
    TYPE_NAMES,
    USER_OPS,
    Field,
    Kind,
    RecordType,
)

# Marks a line that the precise checks must decide.
PENDING = "(reason pending)"

_FIELDS: dict[str, Field] = {field.name: field for rtype in RECORD_TYPES for field in rtype.fields}
_ENUMS: dict[str, tuple[str, ...]] = {
    "type": TYPE_NAMES,
    "op": USER_OPS,
    **{name: field.choices for name, field in _FIELDS.items() if field.choices},
}
_STRUCT = json.dumps(
    {key: "VARCHAR" if key in _ENUMS else "JSON" for key in ["type", "op", *_FIELDS]}
)


def _column(name: str) -> str:
    """The fields CTE's column for a key: the value of an enum, else raw JSON text."""
    return f"enum_{name}" if name in _ENUMS else jv.raw(name)


def _column_sql(name: str) -> str:
    return f"j.{name} AS {_column(name)}" if name in _ENUMS else jv.raw_sql(name)


def _value(field: Field) -> str:
    """A field's value, meaningful only where _accepted() holds."""
    if field.name in _ENUMS:
        return _column(field.name)
    if field.kind is Kind.STRING:
        return f"{jv.raw(field.name)}[2:-2]"
    if field.kind is Kind.INTEGER:
        return jv.integer(field.name)
    return jv.timestamp_ms(field.name)


def _typed(field: Field) -> str:
    return f"typed_{field.name}"


def _accepted(field: Field) -> str:
    """True when the field passes every check (NULL counts as not passing)."""
    column, typed = _column(field.name), _typed(field)
    if field.name in _ENUMS:
        allowed = ", ".join(jv.quote(choice) for choice in field.choices)
        condition = f"{column} IN ({allowed})"
    elif field.kind is Kind.STRING:
        condition = jv.is_plain_string(field.name)
    else:
        bounds = [f"{typed} IS NOT NULL"]
        if field.kind is Kind.TIMESTAMP:
            bounds += [
                f"{typed} >= {MIN_EVENT_MS}",
                f"{typed} <= $received_ms + {MAX_AHEAD_OF_WALL_CLOCK_MS}",
            ]
        if field.min_value is not None:
            bounds.append(f"{typed} >= {field.min_value}")
        if field.max_value is not None and field.max_value < 2**63 - 1:
            bounds.append(f"{typed} <= {field.max_value}")
        condition = " AND ".join(bounds)
    if field.nullable:
        return f"({column} IS NULL OR ({condition}))"
    return f"({condition})"


def _record_condition(rtype: RecordType) -> str:
    condition = f"record_type = {jv.quote(rtype.name)}"
    if rtype.op is not None:
        condition += f" AND op = {jv.quote(rtype.op)}"
    else:
        # A stray op on another type: the precise checks give that column its meaning.
        condition += " AND op IS NULL"
    return condition


def _output_column(field: Field) -> str:
    sql_type = "INTEGER" if field.name == "age" else field.duckdb_type
    return f"CAST({_typed(field)} AS {sql_type}) AS {field.column_name}"


@cache
def fast_select(lines: str) -> str:
    """Rows of batch_parsed for a table of lines (seq, line, pre_reason); every line that is
    not accepted gets the PENDING reason."""
    columns = ", ".join(_column_sql(name) for name in ["type", "op", *_FIELDS])
    typed = ",\n ".join(f"{_value(field)} AS {_typed(field)}" for field in _FIELDS.values())
    accepted = " ".join(
        f"WHEN {_record_condition(rtype)} THEN "
        + " AND ".join(_accepted(field) for field in rtype.fields)
        for rtype in RECORD_TYPES
    )
    event_time = " ".join(
        f"WHEN record_type = {jv.quote(rtype.name)} THEN {_typed(_FIELDS[rtype.event_time])}"
        for rtype in RECORD_TYPES
        if rtype.op != "delete"  # upserts and deletes share updated_at
    )
    outputs = ",\n ".join(_output_column(field) for field in _FIELDS.values())
    return f"""
WITH parsed AS (
    SELECT seq,
        CASE WHEN pre_reason IS NULL AND strlen(line) <= {MAX_LINE_BYTES}
                  AND starts_with(line, '{{') AND json_valid(line)
             THEN json_transform(line, {jv.quote(_STRUCT)}) END AS j
    FROM {lines}
), fields AS (
    SELECT seq, {columns} FROM parsed
), typed AS (
    SELECT enum_type AS record_type, enum_op AS op, *, {typed} FROM fields
)
SELECT seq,
    CASE WHEN coalesce(CASE {accepted} END, FALSE) THEN NULL
         ELSE {jv.quote(PENDING)} END AS reason,
    record_type, op,
    {outputs},
    CASE {event_time} END AS event_time_ms
FROM typed
"""  # noqa: S608 - only model constants are rendered; input values stay column references
