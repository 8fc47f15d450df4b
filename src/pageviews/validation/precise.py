"""Vectorized validation: a batch of raw lines becomes typed records or dead letters.

Every check is derived from the record model, rendered once into SQL, and run over the whole
batch at a time (a Python loop per line would cap throughput far below the bar). Only model
constants are rendered into the SQL; input values are only ever column references.

Two paths: the fast one (validation/scan.py) accepts the plain lines that make up almost all
input; the precise checks here decide the rest and give each bad line its reason. Here a line is
parsed once, by json_transform into a struct whose fields hold the raw JSON text of each value,
and types are read from that text (validation/json_values.py).
"""

from __future__ import annotations

import json
from functools import cache

import duckdb

from pageviews.model.records import (
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
from pageviews.validation import json_values as jv

# Every top-level key the model reads.
_KEYS: tuple[str, ...] = tuple(
    dict.fromkeys(["type", "op"] + [field.name for rtype in RECORD_TYPES for field in rtype.fields])
)
_STRUCT = json.dumps({key: "JSON" for key in _KEYS})

# Output columns of batch_parsed, one per distinct raw column in the model.
OUTPUT_COLUMNS: dict[str, Field] = {
    field.column_name: field for rtype in RECORD_TYPES for field in rtype.fields
}

_quote = jv.quote
_raw = jv.raw


def _typed(field: Field) -> str:
    """Name of the column that holds a field's parsed value (computed once per line)."""
    return f"typed_{field.name}"


def _typed_sql(field: Field) -> str:
    if field.kind is Kind.TIMESTAMP:
        return f"({jv.timestamp_ms(field.name)}) AS {_typed(field)}"
    if field.kind is Kind.INTEGER:
        return f"({jv.integer(field.name)}) AS {_typed(field)}"
    return f"({jv.string(field.name)}) AS {_typed(field)}"


Check = tuple[str, str]  # (SQL condition that makes a line invalid, SQL reason text)


def _field_checks(field: Field) -> list[Check]:
    """The checks of one field, in the order they apply."""
    name, raw, typed = field.name, _raw(field.name), _typed(field)
    label = _quote(f"field '{name}'")
    shown = f"left({raw}, 60)"
    checks: list[Check] = []
    if not field.nullable:
        checks.append((f"{raw} IS NULL", _quote(f"missing or null field {name!r}")))
    # Checks below apply only to present, non-null values.
    guard = f"{raw} IS NOT NULL AND "
    if field.kind is Kind.STRING:
        checks.append(
            (f"{guard}{typed} IS NULL", f"{label} || ' must be a string, got ' || {shown}")
        )
    elif field.kind is Kind.INTEGER:
        checks.append(
            (
                f"{guard}{typed} IS NULL",
                f"{label} || ' must be an integer within 64 bits, got ' || {shown}",
            )
        )
        bounds = " OR ".join(
            condition
            for condition in (
                "" if field.min_value is None else f"{typed} < {field.min_value}",
                "" if field.max_value is None else f"{typed} > {field.max_value}",
            )
            if condition
        )
        if bounds:
            checks.append(
                (
                    f"{guard}({bounds})",
                    f"{label} || ' is ' || {shown} || ', outside "
                    f"[{field.min_value}, {field.max_value}]'",
                )
            )
    else:
        checks += [
            (f"{guard}{typed} IS NULL", f"{label} || ': cannot parse timestamp ' || {shown}"),
            (
                f"{guard}{typed} < {MIN_EVENT_MS}",
                f"{label} || ': timestamp ' || {shown} || ' is before 2000-01-01'",
            ),
            (
                f"{guard}{typed} > $received_ms + {MAX_AHEAD_OF_WALL_CLOCK_MS}",
                f"{label} || ': timestamp ' || {shown} || "
                "' is more than one day ahead of the clock'",
            ),
        ]
    if field.choices:
        allowed = ", ".join(_quote(choice) for choice in field.choices)
        checks.append(
            (
                f"{guard}{typed} NOT IN ({allowed})",
                f"{label} || ' is ' || {shown} || "
                f"{_quote(', expected one of ' + ', '.join(field.choices))}",
            )
        )
    return checks


def _type_checks() -> list[Check]:
    """Checks of `type` and `op`, before any field."""
    type_names = ", ".join(_quote(name) for name in TYPE_NAMES)
    ops = ", ".join(_quote(op) for op in USER_OPS)
    return [
        (f"{_raw('type')} IS NULL", _quote("missing or null field 'type'")),
        (
            f"record_type IS NULL OR record_type NOT IN ({type_names})",
            f"'unknown type ' || left({_raw('type')}, 40)",
        ),
        (
            "record_type = 'user' AND op IS NULL",
            _quote("field 'op' must be one of upsert, delete, got ")
            + f" || coalesce(left({_raw('op')}, 40), 'nothing')",
        ),
        (
            f"record_type = 'user' AND op NOT IN ({ops})",
            _quote("field 'op' is ")
            + f" || left({_raw('op')}, 40) || ', expected upsert or delete'",
        ),
    ]


def _field(rtype: RecordType, name: str) -> Field:
    return next(field for field in rtype.fields if field.name == name)


def _record_condition(rtype: RecordType) -> str:
    condition = f"record_type = {_quote(rtype.name)}"
    if rtype.op is not None:
        condition += f" AND op = {_quote(rtype.op)}"
    return condition


@cache
def _reason_sql() -> str:
    """One CASE expression: NULL for a valid object, else the first reason it is invalid."""
    branches = [f"WHEN {condition} THEN {reason}" for condition, reason in _type_checks()]
    # One nested CASE per record type, so a line only runs the checks of its own type.
    for rtype in RECORD_TYPES:
        checks = " ".join(
            f"WHEN {condition} THEN {reason}"
            for field in rtype.fields
            for condition, reason in _field_checks(field)
        )
        branches.append(f"WHEN {_record_condition(rtype)} THEN CASE {checks} END")
    return "CASE " + "\n ".join(branches) + " END"


def _column_sql(field: Field) -> str:
    sql_type = "INTEGER" if field.name == "age" else field.duckdb_type
    # TRY_CAST: another type's stray field may hold any value (an "age" of 10**12 on a page
    # view); it is not that record's, and must not fail the batch.
    return f"TRY_CAST({_typed(field)} AS {sql_type}) AS {field.column_name}"


def _typed_lines_sql(lines: str) -> str:
    """CTEs from a table of lines (seq, line, pre_reason) to one typed row per line."""
    raws = ", ".join(jv.raw_sql(key) for key in _KEYS)
    typed = ",\n ".join(_typed_sql(field) for field in OUTPUT_COLUMNS.values())
    return f"""
WITH shape AS (
    -- Decide JSON-ness first: json_* functions raise on malformed input.
    SELECT seq, line,
        CASE WHEN pre_reason IS NOT NULL THEN pre_reason
             WHEN strlen(line) > {MAX_LINE_BYTES} THEN 'line is over the 64 KiB limit'
             WHEN trim(line) = '' THEN 'empty line'
             WHEN NOT json_valid(line) THEN 'not valid JSON'
             WHEN json_type(line) <> 'OBJECT' THEN 'not a JSON object but ' || CASE
                 WHEN json_type(line) = 'VARCHAR' THEN 'a string'
                 WHEN json_type(line) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN 'a number'
                 WHEN json_type(line) = 'ARRAY' THEN 'an array'
                 ELSE lower(json_type(line)) END
        END AS shape_reason
    FROM {lines}
), parsed AS (
    SELECT seq, shape_reason,
        CASE WHEN shape_reason IS NULL THEN json_transform(line, {_quote(_STRUCT)}) END AS j
    FROM shape
), fields AS (
    -- Each field once, by name: the checks below refer to these columns many times.
    SELECT seq, shape_reason, {raws} FROM parsed
), typed AS (
    SELECT *,
        {jv.string("type")} AS record_type,
        {jv.string("op")} AS op,
        {typed}
    FROM fields
)"""  # noqa: S608 - only model constants are rendered; input values stay column references


@cache
def precise_select(lines: str) -> str:
    """Rows of batch_parsed for a table of lines, each bad line with its first reason."""
    columns = ",\n ".join(_column_sql(field) for field in OUTPUT_COLUMNS.values())
    # Each type's own event-time field: another type's field in the same line is ignored.
    event_time = (
        "CASE "
        + " ".join(
            f"WHEN record_type = {_quote(rtype.name)} "
            f"THEN {_typed(_field(rtype, rtype.event_time))}"
            for rtype in RECORD_TYPES
            if rtype.op != "delete"  # upserts and deletes share updated_at
        )
        + " END"
    )
    return f"""
{_typed_lines_sql(lines)}
SELECT seq,
    coalesce(shape_reason, {_reason_sql()}) AS reason,
    record_type, op,
    {columns},
    {event_time} AS event_time_ms
FROM typed
"""  # noqa: S608 - only model constants are rendered; input values stay column references


_PRECISE_MACRO = "pageviews_precise_lines"


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the precise select as a table macro on this connection (outside any transaction).

    Its SQL is large: parsing it again for every batch costs milliseconds, a fixed cost that
    small, fresh batches feel.
    """
    # A macro's tables must exist when it is made; every batch replaces them.
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS batch_pending_lines "
        "(seq BIGINT, line VARCHAR, pre_reason VARCHAR)"
    )
    body = precise_select("batch_pending_lines").replace("$received_ms", "received_ms")
    con.execute(f"CREATE OR REPLACE TEMP MACRO {_PRECISE_MACRO}(received_ms) AS TABLE {body}")


def precise_rows(*, macro: bool) -> str:
    """What to select FROM for the rows of temp table batch_pending_lines; the caller binds
    $received_ms. With `macro`, use the one define_macros() made."""
    if macro:
        return f"{_PRECISE_MACRO}($received_ms)"
    return f"({precise_select('batch_pending_lines')})"
