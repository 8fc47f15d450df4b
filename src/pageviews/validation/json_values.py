"""SQL that reads a typed value from a field's raw JSON text, for the precise checks.

A field's raw text (column raw_<name>) is its JSON value as written: `"Inbox"`, `42`, `1.5`;
NULL when the key is absent or the value is null. A string starts with a quote; an integer is
a number without `.`, `e` or `E`. Only model constants are rendered into this SQL.
"""

from __future__ import annotations

from pageviews.model.records import TIMESTAMP_PATTERN


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def raw(name: str) -> str:
    """Column with a field's raw JSON text."""
    return f"raw_{name}"


def raw_sql(name: str) -> str:
    """From struct j of JSON values. As VARCHAR: casting JSON itself would read '"7"' as 7."""
    return f"CAST(j.{name} AS VARCHAR) AS {raw(name)}"


def is_string(name: str) -> str:
    return f"starts_with({raw(name)}, '\"')"


def string(name: str) -> str:
    """A string field's value; only strings with escapes pay for a second parse."""
    text = raw(name)
    return (
        f"CASE WHEN NOT {is_string(name)} THEN NULL "
        f"WHEN contains({text}, '\\') THEN json_extract_string({text}, '$') "
        f"ELSE {text}[2:-2] END"
    )


def integer(name: str) -> str:
    """An integer field's value: NULL for non-numbers, fractions, exponents and overflow.

    The cast rounds "1.5" to 2 and reads "1e3", so such text is refused first (three
    `contains` cost less than one regular expression).
    """
    text = raw(name)
    return (
        f"CASE WHEN NOT (contains({text}, '.') OR contains({text}, 'e') "
        f"OR contains({text}, 'E')) THEN TRY_CAST({text} AS BIGINT) END"
    )


def timestamp_ms(name: str) -> str:
    """Epoch ms of a timestamp field (a string of the model's grammar, or integer ms).

    The casts accept more shapes than the model does (`24:00:00`, `+99:00`, a trailing blank or
    zone name, ...), so the string (escapes decoded) must first match TIMESTAMP_PATTERN, which
    also holds the offset limit. The reference shape, 19 characters with no zone, is UTC
    whichever way it is cast, and a TIMESTAMP cast costs less than the time-zone aware
    TIMESTAMPTZ one that every other shape (fractions, Z, offsets) needs. Only lines the scan
    left pending come here, so the regular expression is cheap in total.
    """
    text = string(name)
    return (
        f"CASE WHEN NOT {is_string(name)} THEN {integer(name)} "
        f"WHEN NOT regexp_full_match({text}, {quote(TIMESTAMP_PATTERN)}) THEN NULL "
        f"WHEN strlen({text}) = 19 THEN epoch_ms(TRY_CAST({text} AS TIMESTAMP)) "
        f"ELSE epoch_ms(TRY_CAST({text} AS TIMESTAMPTZ)) END"
    )
