"""The Flink SQL that validates raw records again on the stack, rendered from the record model.

The job reads the page-view and user-session topics as raw text, so that records from producers
other than ours are checked too. Its checks are the model's rules for the topic's record type
(model/reasons.py), rendered field by field, with the same reason texts as the embedded runtime.
`type` and `op` are not checked: the topic says what a record is, and our producer writes only
the fields.

Each field is parsed out of the raw record once, in brackets so that the JSON type survives:
["x"] is a string, [5] a number, [null] a null, and NULL means absent (or the record is not
JSON). Every check then reads these short texts: Flink parses the whole record again for every
JSON function call, dozens of times per record otherwise. A reason shows the value between the
brackets, as Flink writes it back: the same text as DuckDB's for strings and integers.

Only model constants are rendered into this SQL; no input value is ever formatted into it.
"""

from __future__ import annotations

from collections.abc import Callable

from pageviews.model import canonical, reasons
from pageviews.model.reasons import Check
from pageviews.model.records import (
    BLANK_CHARACTERS,
    MAX_AHEAD_OF_WALL_CLOCK_MS,
    MAX_INT64,
    MAX_LINE_BYTES,
    MAX_OFFSET_MINUTES,
    MIN_EVENT_MS,
    MIN_INT64,
    TIMESTAMP_PATTERN,
    UTC_DESIGNATOR,
    Field,
    Kind,
    RecordType,
)


def java_pattern(pattern: str) -> str:
    r"""A pattern of the model, ending at the end of the text in Java too: Java's `$` also
    matches before a final line terminator ("...00:00:01\n" passed as a timestamp); `\z` is the
    end of the text, as `$` is in RE2 and a full match is in Python."""
    assert pattern.endswith("$"), pattern
    return pattern.removesuffix("$") + "\\z"


# A timestamp string (model/records.py): group 1 is the fraction, group 2 the zone.
TS_PATTERN = java_pattern(TIMESTAMP_PATTERN)


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def regexp_group(text: str, pattern: str, group: int) -> str:
    """Group `group` of the first match of `pattern` (a SQL literal) in `text`, or NULL.
    Not REGEXP_EXTRACT: Flink 2.2 compiles its pattern on every call, which was a fifth of
    the job's time; REGEXP_EXTRACT_ALL caches compiled patterns per thread."""
    return f"REGEXP_EXTRACT_ALL({text}, {pattern}, {group})[1]"


def wrapped_json(path: str) -> str:
    """A field of the raw record as bracketed JSON text (one parse of the record). Always
    wrapped: a conditional wrapper would leave an array as it is, and `[7]` would pass as 7."""
    return f"JSON_QUERY(`raw`, '$.{path}' WITH UNCONDITIONAL ARRAY WRAPPER)"


def field_column(path: str) -> str:
    """The column of the record type's `*_json` view that holds wrapped_json(path)."""
    return f"j_{path}"


def _unwrapped(wrapped: str) -> str:
    """The value inside the brackets as text (a parse of the short text only)."""
    return f"JSON_VALUE({wrapped}, '$[0]')"


def _json_text(wrapped: str) -> str:
    """The value's JSON text: what is between the brackets."""
    return f"SUBSTR({wrapped}, 2, CHAR_LENGTH({wrapped}) - 2)"


def is_string(wrapped: str) -> str:
    return f"({wrapped} LIKE '[\"%')"


def is_integer(wrapped: str) -> str:
    return (
        f"(REGEXP({wrapped}, '^\\[-?[0-9]{{1,19}}\\]$') "
        f"AND TRY_CAST({_unwrapped(wrapped)} AS BIGINT) IS NOT NULL)"
    )


def timestamp_ms(wrapped: str) -> str:
    """Epoch ms of a timestamp field (string or integer epoch ms), or NULL if unparseable.

    The date and time are checked by a round trip through DATE_FORMAT, since TO_TIMESTAMP and
    UNIX_TIMESTAMP accept e.g. 2026-02-30 by rolling it over."""
    v = _unwrapped(wrapped)
    local = f"REPLACE(SUBSTR({v}, 1, 19), 'T', ' ')"
    fraction = regexp_group(v, literal(TS_PATTERN), 1)
    zone = f"COALESCE({regexp_group(v, literal(TS_PATTERN), 2)}, '')"
    zone_digits = f"REPLACE({zone}, ':', '')"
    no_offset = f"{zone} IN ('', {literal(UTC_DESIGNATOR)})"
    # TRY_CAST: Flink may evaluate this for a zone without digits too.
    offset_minutes = (
        f"(CASE WHEN {no_offset} THEN 0 ELSE "
        f"TRY_CAST(SUBSTR({zone_digits}, 2, 2) AS BIGINT) * 60 + "
        f"COALESCE(TRY_CAST(SUBSTR({zone_digits}, 4, 2) AS BIGINT), 0) END)"
    )
    sign = f"(CASE WHEN SUBSTR({zone}, 1, 1) = '-' THEN -1 ELSE 1 END)"
    millis = (
        f"COALESCE(CAST(ROUND(CAST(CONCAT('0', {fraction}) AS DECIMAL(12, 9)) * 1000, 0) "
        "AS BIGINT), 0)"
    )
    return (
        f"(CASE WHEN {is_integer(wrapped)} THEN TRY_CAST({v} AS BIGINT) "
        f"WHEN {is_string(wrapped)} AND REGEXP({v}, '{TS_PATTERN}') "
        f"AND DATE_FORMAT(TO_TIMESTAMP({local}), 'yyyy-MM-dd HH:mm:ss') = {local} "
        f"AND {offset_minutes} <= {MAX_OFFSET_MINUTES} "
        f"THEN UNIX_TIMESTAMP({local}, 'yyyy-MM-dd HH:mm:ss') * 1000 + {millis} "
        f"- {sign} * {offset_minutes} * 60000 "
        "END)"
    )


def _canonical_pattern(record_type: RecordType) -> str:
    """The canonical form's pattern (model/canonical.py) as a SQL literal."""
    return literal(java_pattern(canonical.pattern(record_type)))


def _canonical_group(record_type: RecordType, field: Field) -> str:
    """A field's text in a record of canonical form (model/canonical.py), once its pattern
    matched: the text between its markers, found with LOCATE (no copy of the record). A
    regular expression's group per field, or a split at quotes, cost more than the rest of
    the record's way through the job."""
    before, after = canonical.value_markers(record_type, field)
    start = f"(LOCATE({literal(before)}, `raw`) + {len(before)})"
    end = f"LOCATE({literal(after)}, `raw`, {start})"
    return f"SUBSTR(`raw`, {start}, {end} - {start})"


def _canonical_bounds(record_type: RecordType, field: Field) -> str:
    value = f"TRY_CAST({_canonical_group(record_type, field)} AS BIGINT)"
    if field.kind is Kind.TIMESTAMP:
        low, high = str(MIN_EVENT_MS), f"UNIX_TIMESTAMP() * 1000 + {MAX_AHEAD_OF_WALL_CLOCK_MS}"
    else:
        low = str(MIN_INT64 if field.min_value is None else field.min_value)
        high = str(MAX_INT64 if field.max_value is None else field.max_value)
    return f"{value} BETWEEN {low} AND {high}"


def canonical_match(record_type: RecordType) -> str:
    """True when the raw record is the canonical form of a valid record, else FALSE (never
    NULL, so that `NOT` of it is the record's other path). One regular expression, and the
    bounds that it cannot say; microseconds, where the full checks take milliseconds."""
    checks = [
        f"CHAR_LENGTH(`raw`) <= {MAX_LINE_BYTES}",
        f"REGEXP(`raw`, {_canonical_pattern(record_type)})",
        *(_canonical_bounds(record_type, f) for f in canonical.bounded_fields(record_type)),
    ]
    # The tokens of a record that does not match may be anything; FALSE AND anything is FALSE.
    return "((" + " AND ".join(checks) + ") IS TRUE)"


def canonical_values(record_type: RecordType) -> str:
    """The typed fields of a record of canonical form, as record_values gives them."""
    return _typed_values(record_type, lambda field: _canonical_group(record_type, field))


def event_ms_in_range(record_type: RecordType) -> str:
    """The record's event time in ms if valid and not too far ahead, else 0 (watermark).

    A computed column of the source table, so it cannot use the parsed columns of the view,
    and each mention of `ms` parses the record again: only records of another form than the
    canonical one pay for that. Times before 2000 need no test: they are invalid, but too old
    to move the watermark (a running max) anyway."""
    event_time = next(f for f in record_type.fields if f.name == record_type.event_time)

    def in_range(ms: str) -> str:
        ahead = f"UNIX_TIMESTAMP() * 1000 + {MAX_AHEAD_OF_WALL_CLOCK_MS}"
        return f"COALESCE(CASE WHEN {ms} <= {ahead} THEN {ms} END, 0)"

    # Only the time is checked here, in either form: this runs twice per record.
    canonical_ms = f"TRY_CAST({_canonical_group(record_type, event_time)} AS BIGINT)"
    other_form_ms = timestamp_ms(wrapped_json(record_type.event_time))
    matches = f"REGEXP(`raw`, {_canonical_pattern(record_type)})"
    return f"(CASE WHEN {matches} THEN {in_range(canonical_ms)} ELSE {in_range(other_form_ms)} END)"


def json_columns(record_type: RecordType) -> str:
    """Each field of the record type, parsed out of the raw record once (in model order)."""
    return ",\n  ".join(
        f"{wrapped_json(field.name)} AS {field_column(field.name)}" for field in record_type.fields
    )


def _condition(check: Check, field: Field) -> str:
    """Flink SQL that is true when a record breaks `check` of `field`."""
    column = field_column(field.name)
    value = _unwrapped(column)
    ms = timestamp_ms(column)
    match check:
        case Check.MISSING:
            return f"{column} IS NULL OR {column} = '[null]'"
        case Check.NOT_A_STRING:
            return f"NOT {is_string(column)}"
        case Check.NOT_AN_INTEGER:
            return f"NOT {is_integer(column)}"
        case Check.OUT_OF_RANGE:
            # A bound at the end of 64 bits holds for every integer that passed.
            bounds = [
                f"TRY_CAST({value} AS BIGINT) {operator} {bound}"
                for operator, bound, limit in (
                    ("<", field.min_value, MIN_INT64),
                    (">", field.max_value, MAX_INT64),
                )
                if bound is not None and bound != limit
            ]
            return " OR ".join(bounds) or "FALSE"
        case Check.BAD_TIMESTAMP:
            return f"{ms} IS NULL"
        case Check.TOO_EARLY:
            return f"{ms} < {MIN_EVENT_MS}"
        case Check.TOO_LATE:
            return f"{ms} > UNIX_TIMESTAMP() * 1000 + {MAX_AHEAD_OF_WALL_CLOCK_MS}"
        case Check.NOT_A_CHOICE:
            return f"{value} NOT IN ({', '.join(literal(choice) for choice in field.choices)})"
    raise AssertionError(check)


def _left(text: str, width: int) -> str:
    return f"SUBSTR({text}, 1, {width})"


def _not_an_object() -> str:
    """The reason of a record that is JSON but not an object, by its first character."""
    first = regexp_group("`raw`", "'^[ \\t\\r\\n]*(.)'", 1)
    kinds = reasons.JSON_KINDS
    kind = (
        f"CASE {first} WHEN '\"' THEN {literal(kinds['string'])} "
        f"WHEN '[' THEN {literal(kinds['array'])} "
        f"WHEN 't' THEN {literal(kinds['boolean'])} WHEN 'f' THEN {literal(kinds['boolean'])} "
        f"WHEN 'n' THEN {literal(kinds['null'])} ELSE {literal(kinds['number'])} END"
    )
    return (
        f"(CASE WHEN `raw` IS JSON THEN {reasons.NOT_AN_OBJECT.sql(f'({kind})', _left, literal)} "
        f"ELSE {literal(reasons.NOT_JSON.text())} END)"
    )


def _java_class(characters: str) -> str:
    """Characters for a Java regular expression's character class, each as a \\x escape."""
    return "".join(f"\\x{ord(char):02X}" for char in characters)


def record_reason(record_type: RecordType) -> str:
    """The first problem of a raw record, or NULL if it is valid (as the embedded rules).

    Reads the columns of the record type's `*_json` view (json_columns). A line over the limit
    counts characters here (Flink has no byte length of a string); our producer refuses such
    lines before Kafka."""
    checks = [
        (f"CHAR_LENGTH(`raw`) > {MAX_LINE_BYTES}", literal(reasons.LINE_TOO_LONG.text())),
        (
            f"`raw` IS NULL OR REGEXP(`raw`, '^[{_java_class(BLANK_CHARACTERS)}]*$')",
            literal(reasons.EMPTY_LINE.text()),
        ),
        ("NOT is_object", _not_an_object()),
    ]
    for field in record_type.fields:
        column = field_column(field.name)
        shown = _json_text(column)
        present = f"{column} IS NOT NULL AND {column} <> '[null]' AND "
        for rule in reasons.field_rules(field):
            condition = _condition(rule.check, field)
            if rule.check is not Check.MISSING and field.nullable:
                condition = f"{present}({condition})"
            checks.append((condition, rule.reason.sql(shown, _left, literal)))
    whens = " ".join(f"WHEN {condition} THEN {reason}" for condition, reason in checks)
    return f"(CASE {whens} END)"


def dead_letter_raw(raw: str) -> str:
    """What a dead letter keeps of a raw record: all of it, or its first MAX_LINE_BYTES
    characters (the embedded runtime keeps as many bytes, which is the same for ASCII)."""
    return f"SUBSTR({raw}, 1, {MAX_LINE_BYTES})"


def record_values(record_type: RecordType) -> str:
    """The typed fields of a valid record, from the columns of its `*_json` view; timestamps
    are left out (the source table's event time column holds the record's one)."""
    return _typed_values(record_type, lambda field: _unwrapped(field_column(field.name)))


def _typed_values(record_type: RecordType, text_of: Callable[[Field], str]) -> str:
    """The record's strings and integers, typed, from each field's text; no timestamps."""
    values = []
    for field in record_type.fields:
        value = text_of(field)
        if field.kind is Kind.STRING:
            values.append(f"{value} AS {field.name}")
        elif field.kind is Kind.INTEGER:
            values.append(f"CAST({value} AS BIGINT) AS {field.name}")
    return ",\n  ".join(values)
