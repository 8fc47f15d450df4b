"""Vectorized validation: a batch of raw lines becomes typed records or dead letters.

Every check is derived from the record model, rendered once into one SQL statement, and run
over the whole batch at a time (a Python loop per line would cap throughput far below the bar).
Only model constants are rendered into the SQL; input values are only ever column references.

Each line is parsed once, by json_transform into a struct whose fields hold the raw JSON text
of each value (`"Inbox"`, `42`, `1.5`, NULL when absent or null). Types are then read from
that text: a string starts with a quote, an integer is a number without `.`, `e` or `E`.
"""

from __future__ import annotations

import json
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

# Every top-level key the model reads.
_KEYS: tuple[str, ...] = tuple(
    dict.fromkeys(["type", "op"] + [field.name for rtype in RECORD_TYPES for field in rtype.fields])
)
_STRUCT = json.dumps({key: "JSON" for key in _KEYS})

# Output columns of batch_parsed, one per distinct raw column in the model.
OUTPUT_COLUMNS: dict[str, Field] = {
    field.column_name: field for rtype in RECORD_TYPES for field in rtype.fields
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _raw(name: str) -> str:
    """Column with a field's raw JSON text; NULL when the key is absent or the value is null."""
    return f"raw_{name}"


def _raw_sql(name: str) -> str:
    """As VARCHAR: casting the JSON type itself would read '"7"' as the integer 7."""
    return f"CAST(j.{name} AS VARCHAR) AS {_raw(name)}"


def _is_string(name: str) -> str:
    return f"starts_with({_raw(name)}, '\"')"


def _string(name: str) -> str:
    """A string field's value; only strings with escapes pay for a second parse."""
    raw = _raw(name)
    return (
        f"CASE WHEN NOT {_is_string(name)} THEN NULL "
        f"WHEN strpos({raw}, '\\') > 0 THEN json_extract_string({raw}, '$') "
        f"ELSE {raw}[2:-2] END"
    )


def _integer(name: str) -> str:
    """An integer field's value: NULL for non-numbers, fractions, exponents and overflow.

    The cast rounds "1.5" to 2, so text with a fraction or an exponent is refused first.
    """
    raw = _raw(name)
    return f"CASE WHEN NOT regexp_matches({raw}, '[.eE]') THEN TRY_CAST({raw} AS BIGINT) END"


def _timestamp_ms(name: str) -> str:
    """Epoch ms of a timestamp field (a string in an accepted format, or integer ms).

    The cast accepts more shapes than we do (a bare date, say), so the string must first look
    like "YYYY-MM-DD?HH:MM:SS..." (a LIKE pattern: far cheaper than a regular expression).
    """
    raw = _raw(name)
    return (
        f"CASE WHEN {raw} LIKE '\"____-__-_____:__:__%' "
        f"THEN epoch_ms(TRY_CAST({raw}[2:-2] AS TIMESTAMPTZ)) "
        f"ELSE {_integer(name)} END"
    )


def _typed(field: Field) -> str:
    """Name of the column that holds a field's parsed value (computed once per line)."""
    return f"typed_{field.name}"


def _typed_sql(field: Field) -> str:
    if field.kind is Kind.TIMESTAMP:
        return f"({_timestamp_ms(field.name)}) AS {_typed(field)}"
    if field.kind is Kind.INTEGER:
        return f"({_integer(field.name)}) AS {_typed(field)}"
    return f"({_string(field.name)}) AS {_typed(field)}"


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


@cache
def _valid_sql() -> str:
    """TRUE exactly where _reason_sql() is NULL: the same checks, without the messages.

    Composing reasons costs far more than testing conditions, so the common case (every line
    valid) skips them. A condition that is NULL does not fire, as in a CASE.
    """

    def none_fire(checks: list[Check]) -> str:
        return "NOT (" + " OR ".join(f"coalesce({c}, FALSE)" for c, _ in checks) + ")"

    per_type = " ".join(
        f"WHEN {_record_condition(rtype)} THEN "
        + none_fire([c for field in rtype.fields for c in _field_checks(field)])
        for rtype in RECORD_TYPES
    )
    return f"({none_fire(_type_checks())} AND CASE {per_type} ELSE FALSE END)"


def _column_sql(field: Field) -> str:
    sql_type = "INTEGER" if field.name == "age" else field.duckdb_type
    return f"CAST({_typed(field)} AS {sql_type}) AS {field.column_name}"


# Marks an invalid line until its reason is filled in (by the second, rarer statement).
_PENDING_REASON = "(reason pending)"


def _typed_lines_sql(lines: str) -> str:
    """CTEs from a table of lines (seq, line, pre_reason) to one typed row per line."""
    raws = ", ".join(_raw_sql(key) for key in _KEYS)
    typed = ",\n ".join(_typed_sql(field) for field in OUTPUT_COLUMNS.values())
    return f"""
WITH shape AS (
    -- Decide JSON-ness first: json_* functions raise on malformed input. The common case, a
    -- line that starts with "{{", is settled with one cheap test and one validation.
    SELECT seq, line,
        CASE WHEN pre_reason IS NOT NULL THEN pre_reason
             WHEN strlen(line) > {MAX_LINE_BYTES} THEN 'line is over the 64 KiB limit'
             WHEN starts_with(line, '{{') AND json_valid(line) THEN NULL
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
        {_string("type")} AS record_type,
        {_string("op")} AS op,
        {typed}
    FROM fields
)"""  # noqa: S608 - only model constants are rendered; input values stay column references


@cache
def validation_sql() -> str:
    """SQL that reads temp table batch_lines(seq, line, pre_reason) into batch_parsed.

    An invalid object gets the placeholder reason; reasons_sql() then says why.
    """
    return f"""
CREATE OR REPLACE TEMP TABLE batch_parsed AS
{_validated_select()}"""  # noqa: S608 - only model constants are rendered


@cache
def _validated_select() -> str:
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
{_typed_lines_sql("batch_lines")}
SELECT seq,
    CASE WHEN shape_reason IS NOT NULL THEN shape_reason
         WHEN {_valid_sql()} THEN NULL
         ELSE {_quote(_PENDING_REASON)} END AS reason,
    record_type, op,
    {columns},
    {event_time} AS event_time_ms
FROM typed
"""  # noqa: S608 - only model constants are rendered; input values stay column references


@cache
def reasons_sql() -> str:
    """SQL that fills in the reason of every line that validation_sql() marked pending."""
    return _REASONS_UPDATE.format(source=f"({_reasons_select()})")


@cache
def _reasons_select() -> str:
    marker = _quote(_PENDING_REASON)
    pending = (
        "(SELECT l.* FROM batch_lines l JOIN batch_parsed p USING (seq) "  # noqa: S608
        f"WHERE p.reason = {marker})"
    )
    return f"""{_typed_lines_sql(pending)}
SELECT seq, {_reason_sql()} AS reason FROM typed"""  # noqa: S608 - model constants only


_REASONS_UPDATE = """
UPDATE batch_parsed SET reason = coalesce(why.reason, 'invalid record')
FROM {source} why
WHERE batch_parsed.seq = why.seq
"""
_VALIDATED_MACRO = "pageviews_validated_lines"
_REASONS_MACRO = "pageviews_invalid_line_reasons"


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Keep both statements as table macros on this connection (outside any transaction).

    Their SQL is large: parsing it again for every batch costs several milliseconds each, a
    fixed cost that small, fresh batches feel.
    """
    # A macro's tables must exist when it is made; every batch replaces them.
    con.execute(
        "CREATE TEMP TABLE IF NOT EXISTS batch_lines (seq BIGINT, line VARCHAR, pre_reason VARCHAR)"
    )
    for name, select in (
        (_VALIDATED_MACRO, _validated_select()),
        (_REASONS_MACRO, _reasons_select()),
    ):
        body = select.replace("$received_ms", "received_ms")
        con.execute(f"CREATE OR REPLACE TEMP MACRO {name}(received_ms) AS TABLE {body}")
        if name == _VALIDATED_MACRO:
            con.execute(f"CREATE TEMP TABLE IF NOT EXISTS batch_parsed AS FROM {name}(0) LIMIT 0")


def parse_batch(con: duckdb.DuckDBPyConnection, received_ms: int, *, macros: bool = False) -> None:
    """Fill temp table batch_parsed from temp table batch_lines.

    With `macros`, use the ones define_macros() made on this connection: the same SQL.
    """
    params = {"received_ms": received_ms}
    if macros:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE batch_parsed AS FROM {_VALIDATED_MACRO}($received_ms)",
            params,
        )
    else:
        con.execute(validation_sql(), params)
    [(pending,)] = con.execute(
        "SELECT count(*) FROM batch_parsed WHERE reason = ?", [_PENDING_REASON]
    ).fetchall()
    if pending and macros:
        con.execute(_REASONS_UPDATE.format(source=f"{_REASONS_MACRO}($received_ms)"), params)
    elif pending:
        con.execute(reasons_sql(), params)
