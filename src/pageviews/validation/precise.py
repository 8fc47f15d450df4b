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

from pageviews.model import reasons
from pageviews.model.records import (
    BLANK_CHARACTERS,
    MAX_AHEAD_OF_WALL_CLOCK_MS,
    MAX_JSON_DEPTH,
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


def _left(text: str, width: int) -> str:
    return f"left({text}, {width})"


def _reason(reason: reasons.Reason, slot: str) -> str:
    return reason.sql(slot, _left, _quote)


def _condition(check: reasons.Check, field: Field) -> str:
    """SQL that is true when a line breaks `check` of `field`; every check but MISSING applies
    only to a present, non-null value."""
    raw, typed = _raw(field.name), _typed(field)
    if check is reasons.Check.MISSING:
        return f"{raw} IS NULL"
    guard = f"{raw} IS NOT NULL AND "
    match check:
        case reasons.Check.NOT_A_STRING | reasons.Check.NOT_AN_INTEGER:
            return f"{guard}{typed} IS NULL"
        case reasons.Check.BAD_TIMESTAMP:
            return f"{guard}{typed} IS NULL"
        case reasons.Check.OUT_OF_RANGE:
            bounds = [
                f"{typed} {operator} {bound}"
                for operator, bound in (("<", field.min_value), (">", field.max_value))
                if bound is not None
            ]
            return f"{guard}({' OR '.join(bounds)})"
        case reasons.Check.TOO_EARLY:
            return f"{guard}{typed} < {MIN_EVENT_MS}"
        case reasons.Check.TOO_LATE:
            return f"{guard}{typed} > $received_ms + {MAX_AHEAD_OF_WALL_CLOCK_MS}"
        case reasons.Check.NOT_A_CHOICE:
            allowed = ", ".join(_quote(choice) for choice in field.choices)
            return f"{guard}{typed} NOT IN ({allowed})"
    raise AssertionError(check)


def _field_checks(field: Field) -> list[Check]:
    """The checks of one field, in the order they apply (model/reasons.py)."""
    return [
        (_condition(rule.check, field), _reason(rule.reason, _raw(field.name)))
        for rule in reasons.field_rules(field)
    ]


def _type_checks() -> list[Check]:
    """Checks of `type` and `op`, before any field."""
    type_names = ", ".join(_quote(name) for name in TYPE_NAMES)
    ops = ", ".join(_quote(op) for op in USER_OPS)
    return [
        (f"{_raw('type')} IS NULL", _reason(reasons.TYPE_MISSING, "")),
        (
            f"record_type IS NULL OR record_type NOT IN ({type_names})",
            _reason(reasons.UNKNOWN_TYPE, _raw("type")),
        ),
        ("record_type = 'user' AND op IS NULL", _reason(reasons.OP_MISSING, _raw("op"))),
        (f"record_type = 'user' AND op NOT IN ({ops})", _reason(reasons.OP_UNKNOWN, _raw("op"))),
    ]


def _not_an_object() -> str:
    """The reason of a JSON line that is not an object, by its json_type."""
    kinds = {
        "string": ["VARCHAR"],
        "number": ["BIGINT", "UBIGINT", "DOUBLE"],
        "array": ["ARRAY"],
        "boolean": ["BOOLEAN"],
        "null": ["NULL"],
    }
    whens = " ".join(
        f"WHEN json_type(line) IN ({', '.join(_quote(t) for t in types)}) "
        f"THEN {_quote(reasons.JSON_KINDS[kind])}"
        for kind, types in kinds.items()
    )
    return _reason(reasons.NOT_AN_OBJECT, f"CASE {whens} ELSE lower(json_type(line)) END")


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


def _characters(text: str) -> str:
    """A SQL string of these characters (control characters included, as chr())."""
    return " || ".join(f"chr({ord(char)})" for char in text)


# What DuckDB's JSON reader takes beyond the JSON of Python's strict reader (the reference):
# a trailing comma before `]` or `}`, and NaN or Infinity in any spelling (`nan`, `-inf`, ...).
# Outside strings, in a line json_valid() takes, these letters can only be such a constant.
_LENIENT = "(?i)nan|inf|,\\s*[]}]"
# A JSON string, as json_valid() took it (so the closing quote is there).
_JSON_STRING = '"(?:[^"\\\\]|\\\\.)*"'


def _lenient_json(line: str) -> str:
    """SQL true for a line that json_valid() takes but strict JSON refuses. The strings are
    blanked out first, only for the few lines where the pattern occurs at all."""
    blanked = f"regexp_replace({line}, {_quote(_JSON_STRING)}, '\"\"', 'g')"
    return (
        f"regexp_matches({line}, {_quote(_LENIENT)}) "
        f"AND regexp_matches({blanked}, {_quote(_LENIENT)})"
    )


_NOT_A_BRACKET = "[^\\[\\]{}]"


def _too_deep_sql(lines: str) -> str:
    """CTEs: the seq of every line nested deeper than MAX_JSON_DEPTH (only a line that
    json_valid() takes is meant). DuckDB reads any depth, so the levels are counted: only in
    lines with enough brackets, strings blanked out, as a running sum of +1 per opening and -1
    per closing bracket."""
    openings = "strlen(line) - strlen(replace(replace(line, '[', ''), '{', ''))"
    blanked = f"regexp_replace(line, {_quote(_JSON_STRING)}, '\"\"', 'g')"
    return f"""
bracketed AS (
    SELECT seq, regexp_replace({blanked}, {_quote(_NOT_A_BRACKET)}, '', 'g') AS brackets
    FROM {lines}
    WHERE {openings} > {MAX_JSON_DEPTH} AND pre_reason IS NULL
), levels AS (
    SELECT seq, sum(CASE WHEN bracket IN ('[', '{{') THEN 1 ELSE -1 END)
        OVER (PARTITION BY seq ORDER BY position) AS level
    FROM bracketed, unnest(string_split(brackets, '')) WITH ORDINALITY AS b(bracket, position)
), too_deep AS (
    SELECT seq FROM levels GROUP BY seq HAVING max(level) > {MAX_JSON_DEPTH}
)"""  # noqa: S608 - only model constants are rendered


def _typed_lines_sql(lines: str) -> str:
    """CTEs from a table of lines (seq, line, pre_reason) to one typed row per line."""
    raws = ", ".join(jv.raw_sql(key) for key in _KEYS)
    typed = ",\n ".join(_typed_sql(field) for field in OUTPUT_COLUMNS.values())
    return f"""
WITH {_too_deep_sql(lines)}, shape AS (
    -- Decide JSON-ness first: json_* functions raise on malformed input.
    SELECT seq, line,
        CASE WHEN pre_reason IS NOT NULL THEN pre_reason
             WHEN strlen(line) > {MAX_LINE_BYTES} THEN {_reason(reasons.LINE_TOO_LONG, "")}
             WHEN trim(line, {_characters(BLANK_CHARACTERS)}) = ''
                THEN {_reason(reasons.EMPTY_LINE, "")}
             WHEN NOT json_valid(line) OR ({_lenient_json("line")})
                    OR seq IN (SELECT seq FROM too_deep)
                THEN {_reason(reasons.NOT_JSON, "")}
             WHEN json_type(line) <> 'OBJECT' THEN {_not_an_object()}
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
    # `op` is a tag of the types that have one (users); on any other type it is a stray field,
    # not checked and not kept, as the scan and the per-record validator do.
    tagged = ", ".join(
        dict.fromkeys(_quote(rtype.name) for rtype in RECORD_TYPES if rtype.op is not None)
    )
    return f"""
{_typed_lines_sql(lines)}
SELECT seq,
    coalesce(shape_reason, {_reason_sql()}) AS reason,
    record_type,
    CASE WHEN record_type IN ({tagged}) THEN op END AS op,
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
