"""The rules of the record model in the order they apply, each with its dead-letter reason.

A line gets the reason of the first rule it breaks: the line rules (length, blank, JSON, object),
then `type` and `op`, then its record type's fields in model order, each through
`field_rules`. Every validator renders these rules and reasons in its own language, so that
each gives the same reason text for the same line (tests/conformance/records.json).

A reason is fixed text, or fixed text around a slot. The slot of a field's reason holds the
first characters of the offending value as a JSON writer writes it back: `"Twitter"`, `-1`,
`7.5`, `[1,2]` (DuckDB's writer; validation/record.py writes the same in Python).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from functools import cache

from pageviews.model.records import (
    MAX_AHEAD_OF_WALL_CLOCK_MS,
    MAX_LINE_BYTES,
    MIN_EVENT_MS,
    USER_OPS,
    Field,
    Kind,
)

VALUE_WIDTH = 60  # characters of a field's value shown in its reason
TAG_WIDTH = 40  # characters of a `type` or `op` value shown


@dataclass(frozen=True)
class Reason:
    """`before`, then (if `after` is not None) a slot, then `after`."""

    before: str
    after: str | None = None
    width: int | None = None  # at most this many characters of the slot's text
    absent: str | None = None  # the slot's text when there is no value

    def text(self, slot: str | None = None) -> str:
        if self.after is None:
            return self.before
        shown = self.absent if slot is None else slot[: self.width]
        if shown is None:
            raise ValueError(f"reason {self.before!r}... needs a value")
        return self.before + shown + self.after

    def sql(self, slot: str, left: Callable[[str, int], str], quote: Callable[[str], str]) -> str:
        """The reason as a SQL expression: `slot` is the SQL of the slot's text, `left(s, n)`
        the SQL of its first n characters, `quote(text)` a string literal."""
        if self.after is None:
            return quote(self.before)
        shown = slot if self.width is None else left(slot, self.width)
        if self.absent is not None:
            shown = f"coalesce({shown}, {quote(self.absent)})"
        parts = [quote(self.before), shown] + ([quote(self.after)] if self.after else [])
        return " || ".join(parts)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def _span(ms: int) -> str:
    """A duration in words: 'one day', '2 hours'."""
    for unit, unit_ms in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000)):
        if ms % unit_ms == 0:
            count = ms // unit_ms
            return f"one {unit}" if count == 1 else f"{count} {unit}s"
    return f"{ms} ms"


# Line rules, in order.
LINE_TOO_LONG = Reason(f"line is over the {MAX_LINE_BYTES // 1024} KiB limit")
EMPTY_LINE = Reason("empty line")  # nothing but spaces
NOT_JSON = Reason("not valid JSON")
NOT_AN_OBJECT = Reason("not a JSON object but ", "")
# What a JSON value that is not an object is called in NOT_AN_OBJECT.
JSON_KINDS = {
    "string": "a string",
    "number": "a number",
    "array": "an array",
    "boolean": "boolean",
    "null": "null",
}


def missing(name: str) -> Reason:
    return Reason(f"missing or null field '{name}'")


# Tag rules, in order: `type`, then `op` for the record types that have one.
TYPE_MISSING = missing("type")
UNKNOWN_TYPE = Reason("unknown type ", "", TAG_WIDTH)
OP_MISSING = Reason(
    f"field 'op' must be one of {', '.join(USER_OPS)}, got ", "", TAG_WIDTH, "nothing"
)
OP_UNKNOWN = Reason("field 'op' is ", f", expected {' or '.join(USER_OPS)}", TAG_WIDTH)

# Not a rule of the model: the reason of a line that passed every rule, yet failed its batch's
# processing (engine/isolation.py). The slot is the exception's type and message, on one line.
FAILURE_WIDTH = 200
PROCESSING_FAILED = Reason("processing failed: ", "", FAILURE_WIDTH)


class Check(Enum):
    """What a field rule tests. A value that is absent or null breaks only MISSING."""

    MISSING = "missing"  # absent or null, and the field is not nullable
    NOT_A_STRING = "not a string"
    NOT_AN_INTEGER = "not an integer"  # a JSON number without fraction or exponent, in 64 bits
    OUT_OF_RANGE = "out of range"  # outside [min_value, max_value]
    BAD_TIMESTAMP = "bad timestamp"  # not a timestamp string (TIMESTAMP_PATTERN) nor an integer
    TOO_EARLY = "too early"  # before MIN_EVENT_MS
    TOO_LATE = "too late"  # more than MAX_AHEAD_OF_WALL_CLOCK_MS after the clock at arrival
    NOT_A_CHOICE = "not a choice"  # not one of the field's choices


@dataclass(frozen=True)
class Rule:
    check: Check
    reason: Reason


@cache
def field_rules(field: Field) -> tuple[Rule, ...]:
    """The rules of one field, in the order they apply."""
    label = f"field '{field.name}'"
    rules: list[Rule] = []
    if not field.nullable:
        rules.append(Rule(Check.MISSING, missing(field.name)))
    if field.kind is Kind.STRING:
        rules.append(
            Rule(Check.NOT_A_STRING, Reason(f"{label} must be a string, got ", "", VALUE_WIDTH))
        )
    elif field.kind is Kind.INTEGER:
        rules.append(
            Rule(
                Check.NOT_AN_INTEGER,
                Reason(f"{label} must be an integer within 64 bits, got ", "", VALUE_WIDTH),
            )
        )
        if field.min_value is not None or field.max_value is not None:
            bounds = f", outside [{field.min_value}, {field.max_value}]"
            rules.append(Rule(Check.OUT_OF_RANGE, Reason(f"{label} is ", bounds, VALUE_WIDTH)))
    else:
        timestamp = f"{label}: timestamp "
        rules += [
            Rule(Check.BAD_TIMESTAMP, Reason(f"{label}: cannot parse timestamp ", "", VALUE_WIDTH)),
            Rule(
                Check.TOO_EARLY, Reason(timestamp, f" is before {_day(MIN_EVENT_MS)}", VALUE_WIDTH)
            ),
            Rule(
                Check.TOO_LATE,
                Reason(
                    timestamp,
                    f" is more than {_span(MAX_AHEAD_OF_WALL_CLOCK_MS)} ahead of the clock",
                    VALUE_WIDTH,
                ),
            ),
        ]
    if field.choices:
        expected = f", expected one of {', '.join(field.choices)}"
        rules.append(Rule(Check.NOT_A_CHOICE, Reason(f"{label} is ", expected, VALUE_WIDTH)))
    return tuple(rules)
