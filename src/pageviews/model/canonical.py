"""The canonical form of a valid page view or user session: how our producer writes it to Kafka.

A record that passed validation is written as compact JSON with the record type's fields in
model order, and its timestamp as integer epoch ms: `{"session_id":"s1","user_id":7,
"source":"Inbox","event_timestamp":1767225600000}`. It is still a valid model record, so every
reader of the topics can validate it again; but a reader may also recognise the canonical form
with one regular expression (`pattern`) and skip the full checks. The Flink job does that: the
full checks in SQL cost milliseconds per record, the pattern microseconds. A record that does
not match (another client's, or one with escapes in a string) takes the full checks.

The pattern only matches text that the full checks accept with the same values, once the
bounds that a pattern cannot say are checked too (`bounded_fields`): tests/test_canonical.py
holds it to that with Hypothesis, and `quote_token` to the pattern's groups.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from pageviews.model.records import Field, Kind, RecordType

# A JSON string without escapes or control characters: orjson writes these as they are.
_PLAIN_STRING = '"([^"\\\\\\x00-\\x1F]*)"'
# JSON allows no leading zeros; the canonical form has no sign (ids and times are >= 0).
_NATURAL = "(0|[1-9][0-9]{0,18})"
_CHOICE = re.compile(r"[A-Za-z0-9_ -]+")
# The characters that frame a number's token when the text is split at quotes (`:7,`, `:7}`).
NUMBER_FRAME = ":,}"


def canonical_record(record: dict[str, Any], rtype: RecordType, event_ms: int) -> bytes:
    """A validated record's canonical JSON: model fields in order, event time as epoch ms."""
    return orjson.dumps(
        {
            f.name: event_ms if f.name == rtype.event_time else record.get(f.name)
            for f in rtype.fields
        }
    )


def _value_pattern(field: Field) -> str:
    if field.choices:
        assert all(_CHOICE.fullmatch(choice) for choice in field.choices), field.choices
        return '"(' + "|".join(field.choices) + ')"'
    if field.kind is Kind.STRING:
        return _PLAIN_STRING
    return _NATURAL


def pattern(rtype: RecordType) -> str:
    """A regular expression, valid in Python and Java, for the canonical form of `rtype`.

    Group i + 1 holds field i's value (strings without their quotes). Java's `$` also matches
    before a final line terminator: the Flink job ends it with `\\z` (validation/flink.py).
    """
    assert all(not f.nullable for f in rtype.fields), "canonical forms have no nulls"
    body = ",".join(f'"{f.name}":{_value_pattern(f)}' for f in rtype.fields)
    return "^\\{" + body + "\\}$"


def quote_token(rtype: RecordType, field: Field) -> tuple[int, bool]:
    """Where a field's value is in a text of canonical form split at each `"` (0-based token),
    and whether it is framed by one character on each side (`:7,` or `:7}`: a number) or is
    the whole token (a string: none of its characters is a quote). Cheaper than a regular
    expression's group, once the pattern has matched."""
    # Every field adds "name": (two quotes) before its value, and a string value two more.
    token = 0
    for f in rtype.fields:
        token += 2
        if f is field:
            return (token + 1, False) if f.kind is Kind.STRING else (token, True)
        token += 2 if f.kind is Kind.STRING else 0
    raise ValueError(f"{field.name} is not a field of {rtype.label}")


def bounded_fields(rtype: RecordType) -> tuple[Field, ...]:
    """The fields whose bounds a reader checks after the pattern matched: integers with a
    range, and the event time (the model's earliest day; at most a day ahead of the clock)."""
    return tuple(
        f
        for f in rtype.fields
        if f.kind is Kind.TIMESTAMP or f.min_value is not None or f.max_value is not None
    )
