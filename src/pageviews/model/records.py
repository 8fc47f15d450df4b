"""The record model: the one definition of every input record type and of its rules.

Every validator derives its rules from here and from model/reasons.py (the reason of each
rule): the compiled scan (validation/scan.py), the DuckDB checks (validation/precise.py), the
per-record checks of the stack's producer (validation/record.py) and the Flink SQL checks
(validation/flink.py). The DuckDB raw tables (store/schema.py) are derived from `RECORD_TYPES`
too. tests/conformance/records.json holds the golden lines that every validator must agree on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """The JSON type a field must have."""

    STRING = "string"
    INTEGER = "integer"
    TIMESTAMP = "timestamp"  # "YYYY-MM-DD HH:MM:SS", ISO 8601 with Z/offset, or epoch ms


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    nullable: bool = False
    choices: tuple[str, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    # Column name in the raw table, when it differs (timestamps are stored as epoch ms).
    column: str | None = None

    @property
    def column_name(self) -> str:
        return self.column or self.name

    @property
    def duckdb_type(self) -> str:
        return "VARCHAR" if self.kind is Kind.STRING else "BIGINT"


@dataclass(frozen=True)
class RecordType:
    """One record type: its `type` (and `op`) tag, its fields, and which field is event time."""

    name: str  # the value of "type"
    fields: tuple[Field, ...]
    event_time: str  # name of the field that holds event time
    table: str  # raw table that stores accepted records of this type
    op: str | None = None  # for "user" records: "upsert" or "delete"

    @property
    def label(self) -> str:
        return self.name if self.op is None else f"{self.name}/{self.op}"


SOURCES = ("Homepage", "Inbox", "External")
DEVICES = ("Mobile", "Desktop", "Tablet")
SUBSCRIPTIONS = ("Platinum", "Gold", "Silver", "Standard")
USER_OPS = ("upsert", "delete")

# Range of a valid BIGINT user id; ages outside [0, 150] are treated as bad input.
_USER_ID = Field("user_id", Kind.INTEGER, min_value=0, max_value=2**63 - 1)

PAGEVIEW = RecordType(
    name="pageview",
    table="raw_pageviews",
    event_time="event_timestamp",
    fields=(
        Field("session_id", Kind.STRING),
        _USER_ID,
        Field("source", Kind.STRING, choices=SOURCES),
        Field("event_timestamp", Kind.TIMESTAMP, column="event_ms"),
    ),
)

USERSESSION = RecordType(
    name="usersession",
    table="raw_usersessions",
    event_time="login_timestamp",
    fields=(
        Field("session_id", Kind.STRING),
        _USER_ID,
        Field("user_name", Kind.STRING),
        Field("login_timestamp", Kind.TIMESTAMP, column="login_ms"),
        Field("device", Kind.STRING, choices=DEVICES),
    ),
)

USER_UPSERT = RecordType(
    name="user",
    op="upsert",
    table="raw_users",
    event_time="updated_at",
    fields=(
        _USER_ID,
        Field("age", Kind.INTEGER, nullable=True, min_value=0, max_value=150),
        Field("gender", Kind.STRING, nullable=True),
        Field("country", Kind.STRING, nullable=True),
        Field("subscription", Kind.STRING, nullable=True, choices=SUBSCRIPTIONS),
        Field("updated_at", Kind.TIMESTAMP, column="updated_ms"),
    ),
)

USER_DELETE = RecordType(
    name="user",
    op="delete",
    table="raw_users",
    event_time="updated_at",
    fields=(_USER_ID, Field("updated_at", Kind.TIMESTAMP, column="updated_ms")),
)

RECORD_TYPES: tuple[RecordType, ...] = (PAGEVIEW, USERSESSION, USER_UPSERT, USER_DELETE)
TYPE_NAMES = ("pageview", "usersession", "user")

# Limits on input lines and timestamps (docs/semantics.md, sections 1 and 9).
MAX_LINE_BYTES = 64 * 1024
# Deeper JSON is not valid JSON: the limit of Jackson, which Flink reads JSON with (each object
# or array is a level, the line's own object the first).
MAX_JSON_DEPTH = 1_000
MIN_EVENT_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_AHEAD_OF_WALL_CLOCK_MS = 24 * 3600 * 1000
# An integer (and an epoch-ms timestamp) is a JSON number without fraction or exponent that fits
# in 64 bits.
MIN_INT64 = -(2**63)
MAX_INT64 = 2**63 - 1
# A line of nothing but these is blank ("empty line"): the JSON whitespace (space, tab, LF, CR)
# and the other ASCII blanks, vertical tab and form feed (C's isspace). Around an object, only
# JSON whitespace is allowed.
BLANK_CHARACTERS = " \t\n\r\x0b\x0c"
JSON_WHITESPACE = " \t\n\r"


def dead_letter_raw(line: str) -> str:
    """What a dead letter keeps of a line: all of it, or of a line over MAX_LINE_BYTES its
    longest beginning of whole characters that is at most MAX_LINE_BYTES bytes of UTF-8."""
    if len(line) <= MAX_LINE_BYTES // 4:
        return line
    encoded = line.encode(errors="surrogatepass")
    if len(encoded) <= MAX_LINE_BYTES:
        return line
    return encoded[:MAX_LINE_BYTES].decode(errors="ignore")


# The timestamp strings: "YYYY-MM-DD", a separator, "HH:MM:SS", then optional fractional
# seconds (1 to MAX_FRACTION_DIGITS digits) and an optional zone: UTC_DESIGNATOR or an offset
# "+HH:MM", "+HHMM" or "+HH" (or -) of at most MAX_OFFSET_MINUTES, minutes 00-59. No zone means
# UTC. Nothing else, not even a blank, before or after. Fractions are rounded to the nearest
# millisecond. Dates and times must exist (no 2026-02-30, no 24:00:00, no leap second).
TIMESTAMP_SEPARATORS = (" ", "T")
MAX_FRACTION_DIGITS = 9
UTC_DESIGNATOR = "Z"
MAX_OFFSET_MINUTES = 14 * 60  # UTC+14:00 is the furthest zone in use


def _offset_pattern() -> str:
    """Offset hours and minutes up to MAX_OFFSET_MINUTES, as alternatives (no arithmetic)."""
    hours, minutes = divmod(MAX_OFFSET_MINUTES, 60)
    below = "|".join(f"{hour:02d}" for hour in range(hours))
    last = "|".join(f"{minute:02d}" for minute in range(minutes + 1))
    return f"(?:(?:{below})(?::?[0-5][0-9])?|{hours:02d}(?::?(?:{last}))?)"


def _timestamp_pattern() -> str:
    """The timestamp grammar as a regular expression in the syntax that Python, RE2 (DuckDB)
    and Java (Flink) share.

    Group 1 is the fraction (with its dot), group 2 the zone; the date and time are at fixed
    positions (0:4, 5:7, 8:10, 11:13, 14:16, 17:19). Hours, minutes, seconds and the offset
    limit are in the pattern; whether the date exists is not.
    """
    separators = "".join(TIMESTAMP_SEPARATORS)
    return (
        f"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[{separators}]"
        "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
        f"(\\.[0-9]{{1,{MAX_FRACTION_DIGITS}}})?"
        f"({UTC_DESIGNATOR}|[+-]{_offset_pattern()})?$"
    )


TIMESTAMP_PATTERN = _timestamp_pattern()

# The country of a page view with no user (or a deleted one), in every runtime.
# stack/flink_sql/windows.sql still writes it as a literal: its templates take no parameter for it.
UNKNOWN_COUNTRY = "unknown"
