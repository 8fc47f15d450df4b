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
holds it to that with Hypothesis, and `value_markers` to the pattern's groups.
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


def value_markers(rtype: RecordType, field: Field) -> tuple[str, str]:
    """The text just before and just after a field's value in a text of canonical form, as a
    reader finds them from the left: the value starts after the first `before` and ends at the
    first `after` behind it. Both hold a quote, and no canonical string does, so neither can
    be found inside a value. Cheaper than a regular expression's group, once the pattern has
    matched."""
    index = rtype.fields.index(field)
    quote = '"' if field.kind is Kind.STRING else ""
    before = f'"{field.name}":{quote}'
    if index + 1 < len(rtype.fields):
        after = f'{quote},"{rtype.fields[index + 1].name}":'
    else:
        after = f"{quote}}}"
    return before, after


def bounded_fields(rtype: RecordType) -> tuple[Field, ...]:
    """The fields whose bounds a reader checks after the pattern matched: integers with a
    range, and the event time (the model's earliest day; at most a day ahead of the clock)."""
    return tuple(
        f
        for f in rtype.fields
        if f.kind is Kind.TIMESTAMP or f.min_value is not None or f.max_value is not None
    )
