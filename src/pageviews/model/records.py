"""The record model: the one definition of every input record type.

Validation (validation/precise.py), the DuckDB raw tables (store/schema.py) and, later, the Flink
DDL and Pinot schemas are all derived from `RECORD_TYPES`.
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

# Limits on input lines and timestamps (section 6 of the record model).
MAX_LINE_BYTES = 64 * 1024
MIN_EVENT_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_AHEAD_OF_WALL_CLOCK_MS = 24 * 3600 * 1000
