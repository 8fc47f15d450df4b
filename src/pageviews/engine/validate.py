"""Vectorized validation: a batch of raw lines becomes typed records or dead letters.

Every check is derived from the record model, rendered once into one SQL statement, and run
over the whole batch at a time (a Python loop per line would cap throughput far below the bar).
Only model constants are rendered into the SQL; input values are only ever column references.
"""

from __future__ import annotations

from functools import cache

import duckdb

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

# Accepted timestamp strings: the reference "YYYY-MM-DD HH:MM:SS" (UTC) and ISO 8601 with
# a "T", fractional seconds, and "Z" or an offset. No zone means UTC.
TIMESTAMP_PATTERN = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:?\d{2})?)?"

# Every JSON path the model reads, in a fixed order: extracting them all in one call parses
# each line once.
_PATHS: tuple[str, ...] = tuple(
    dict.fromkeys(["type", "op"] + [field.name for rtype in RECORD_TYPES for field in rtype.fields])
)
_INDEX = {name: i + 1 for i, name in enumerate(_PATHS)}  # DuckDB lists are 1-based

# Output columns of `batch_records`, typed, one per distinct raw column in the model.
OUTPUT_COLUMNS: dict[str, Field] = {
    field.column_name: field for rtype in RECORD_TYPES for field in rtype.fields
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(name: str) -> str:
    return f"s[{_INDEX[name]}]"


def _json_type(name: str) -> str:
    return f"ty[{_INDEX[name]}]"


def _typed(field: Field) -> str:
    """Name of the column that holds a field's parsed value (computed once per line)."""
    return f"typed_{field.name}"


def _timestamp_ms(name: str) -> str:
    """Epoch ms of a timestamp field, or NULL when it cannot be parsed."""
    value, json_type = _value(name), _json_type(name)
    return (
        f"CASE WHEN {json_type} IN ('BIGINT', 'UBIGINT') THEN TRY_CAST({value} AS BIGINT) "
        f"WHEN {json_type} = 'VARCHAR' AND regexp_full_match({value}, "
        f"{_quote(TIMESTAMP_PATTERN)}) THEN epoch_ms(TRY_CAST({value} AS TIMESTAMPTZ)) END"
    )


def _field_checks(field: Field) -> list[str]:
    """CASE WHEN branches (condition THEN reason) for one field, in the order they apply."""
    name, value, json_type = field.name, _value(field.name), _json_type(field.name)
    label = _quote(f"field '{name}'")
    checks = [f"WHEN {json_type} IS NULL THEN {_quote(f'missing field {name!r}')}"]
    if field.nullable:
        null_ok = f"{json_type} = 'NULL'"
    else:
        checks.append(f"WHEN {json_type} = 'NULL' THEN {_quote(f'field {name!r} is null')}")
        null_ok = "FALSE"
    # Checks below apply only to non-null values.
    guard = f"NOT ({null_ok}) AND "
    if field.kind is Kind.STRING:
        checks.append(
            f"WHEN {guard}{json_type} <> 'VARCHAR' THEN {label} || ' must be a string, got ' "
            f"|| lower({json_type})"
        )
    elif field.kind is Kind.INTEGER:
        checks.append(
            f"WHEN {guard}{json_type} NOT IN ('BIGINT', 'UBIGINT') THEN {label} "
            f"|| ' must be an integer, got ' || lower({json_type}) || ' ' || left({value}, 40)"
        )
        typed = _typed(field)
        low = "" if field.min_value is None else f"{typed} < {field.min_value}"
        high = "" if field.max_value is None else f"{typed} > {field.max_value}"
        bounds = " OR ".join(b for b in (f"{typed} IS NULL", low, high) if b)
        checks.append(
            f"WHEN {guard}({bounds}) THEN {label} || ' is ' || {value} || ', outside "
            f"[{field.min_value}, {field.max_value}]'"
        )
    else:
        ms = _typed(field)
        checks.append(
            f"WHEN {guard}{json_type} NOT IN ('VARCHAR', 'BIGINT', 'UBIGINT') THEN {label} "
            f"|| ' must be a timestamp string or epoch milliseconds, got ' || lower({json_type})"
        )
        checks.append(
            f"WHEN {guard}({ms}) IS NULL THEN {label} || ': cannot parse timestamp ' "
            f"|| left({value}, 60)"
        )
        checks.append(
            f"WHEN {guard}({ms}) < {MIN_EVENT_MS} THEN {label} || ': timestamp ' || "
            f"left({value}, 60) || ' is before 2000-01-01'"
        )
        checks.append(
            f"WHEN {guard}({ms}) > $received_ms + {MAX_AHEAD_OF_WALL_CLOCK_MS} THEN {label} || "
            f"': timestamp ' || left({value}, 60) || ' is more than one day ahead of the clock'"
        )
    if field.choices:
        allowed = ", ".join(_quote(choice) for choice in field.choices)
        checks.append(
            f"WHEN {guard}{value} NOT IN ({allowed}) THEN {label} || ' is ' || "
            f"{_quote(chr(39))} || left({value}, 40) || {_quote(chr(39))} || "
            f"{_quote(', expected one of ' + ', '.join(field.choices))}"
        )
    return checks


def _record_condition(rtype: RecordType) -> str:
    condition = f"{_value('type')} = {_quote(rtype.name)}"
    if rtype.op is not None:
        condition += f" AND {_value('op')} = {_quote(rtype.op)}"
    return condition


@cache
def _reason_sql() -> str:
    """One CASE expression: NULL for a valid object, else the first reason it is invalid."""
    type_names = ", ".join(_quote(name) for name in TYPE_NAMES)
    ops = ", ".join(_quote(op) for op in USER_OPS)
    branches = [
        f"WHEN {_json_type('type')} IS NULL THEN 'missing field ''type'''",
        f"WHEN {_json_type('type')} <> 'VARCHAR' OR {_value('type')} NOT IN ({type_names}) "
        f"THEN 'unknown type ' || left(coalesce({_value('type')}, 'null'), 40)",
        f"WHEN {_value('type')} = 'user' AND {_json_type('op')} IS NULL "
        "THEN 'missing field ''op'''",
        f"WHEN {_value('type')} = 'user' AND ({_json_type('op')} <> 'VARCHAR' "
        f"OR {_value('op')} NOT IN ({ops})) THEN 'field ''op'' is ' || "
        f"left(coalesce({_value('op')}, 'null'), 40) || ', expected upsert or delete'",
    ]
    # One nested CASE per record type, so a line only runs the checks of its own type.
    for rtype in RECORD_TYPES:
        checks = " ".join(c for field in rtype.fields for c in _field_checks(field))
        branches.append(f"WHEN {_record_condition(rtype)} THEN CASE {checks} END")
    return "CASE " + "\n ".join(branches) + " END"


def _typed_sql(field: Field) -> str:
    """The parsed value of a field; NULL where it is absent or does not parse."""
    if field.kind is Kind.TIMESTAMP:
        return f"({_timestamp_ms(field.name)}) AS {_typed(field)}"
    if field.kind is Kind.INTEGER:
        return f"TRY_CAST({_value(field.name)} AS BIGINT) AS {_typed(field)}"
    return f"{_value(field.name)} AS {_typed(field)}"


def _column_sql(field: Field) -> str:
    sql_type = "INTEGER" if field.name == "age" else field.duckdb_type
    return f"CAST({_typed(field)} AS {sql_type}) AS {field.column_name}"


@cache
def validation_sql() -> str:
    """SQL that reads temp table batch_lines(seq, line, pre_reason) into batch_parsed."""
    paths = "[" + ", ".join(_quote(f"$.{name}") for name in _PATHS) + "]"
    typed = ",\n ".join(_typed_sql(field) for field in OUTPUT_COLUMNS.values())
    columns = ",\n ".join(_column_sql(field) for field in OUTPUT_COLUMNS.values())
    event_time = (
        "coalesce("
        + ", ".join(
            _typed(field) for field in OUTPUT_COLUMNS.values() if field.kind is Kind.TIMESTAMP
        )
        + ")"
    )
    # Only model constants are rendered here; input values stay column references.
    return f"""  # noqa: S608
CREATE OR REPLACE TEMP TABLE batch_parsed AS
WITH shape AS (
    -- Decide JSON-ness first: json_* functions raise on malformed input.
    SELECT seq, line,
        CASE WHEN pre_reason IS NOT NULL THEN pre_reason
             WHEN strlen(line) > {MAX_LINE_BYTES}
                 THEN 'line is ' || strlen(line) || ' bytes, over the 64 KiB limit'
             WHEN trim(line) = '' THEN 'empty line'
             WHEN NOT json_valid(line) THEN 'not valid JSON'
             WHEN json_type(line) <> 'OBJECT'
                 THEN 'not a JSON object but ' || lower(json_type(line))
        END AS shape_reason
    FROM batch_lines
), fields AS (
    SELECT seq, line, shape_reason,
        CASE WHEN shape_reason IS NULL THEN json_extract_string(line, {paths}) END AS s,
        CASE WHEN shape_reason IS NULL THEN json_type(line, {paths}) END AS ty
    FROM shape
), typed AS (
    SELECT *, {typed} FROM fields
), checked AS (
    SELECT *, coalesce(shape_reason, {_reason_sql()}) AS reason FROM typed
)
SELECT seq, reason,
    {_value("type")} AS record_type,
    {_value("op")} AS op,
    {columns},
    {event_time} AS event_time_ms
FROM checked
"""


def parse_batch(con: duckdb.DuckDBPyConnection, received_ms: int) -> None:
    """Fill temp table batch_parsed from temp table batch_lines."""
    con.execute(validation_sql(), {"received_ms": received_ms})
