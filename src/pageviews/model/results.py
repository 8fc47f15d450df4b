"""The result tables as the distributed runtime carries them: one description for every reader.

Flink writes these rows as JSON to the result topics (handoff contract); Pinot's schemas and
table configs are generated from here. Names equal the embedded DuckDB result tables
(store/schema.py); what differs is said per column: times are epoch milliseconds (`ms`) where
DuckDB has TIMESTAMPTZ, users carry a `deleted` flag (upserts cannot delete), and the append
tables carry the Kafka position of the input event instead of DuckDB's `seq`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Logical column types; `ms` is epoch milliseconds (BIGINT).
BIGINT, INT, DOUBLE, STRING, BOOLEAN, MS = "BIGINT", "INT", "DOUBLE", "STRING", "BOOLEAN", "MS"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False


@dataclass(frozen=True)
class ResultTable:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # the upsert key; empty for append-only tables
    time_column: str

    @property
    def upsert(self) -> bool:
        return bool(self.key)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _window_table(name: str, key: Column, extra: tuple[Column, ...]) -> ResultTable:
    return ResultTable(
        name,
        (
            Column("window_start", MS),
            Column("window_end", MS),
            key,
            Column("pageview_count", BIGINT),
            *extra,
            Column("is_final", BOOLEAN),
        ),
        key=(key.name, "window_start"),
        time_column="window_start",
    )


_SOURCE = Column("source", STRING)
_USER_COUNT = Column("user_count", BIGINT)

RESULT_TABLES: tuple[ResultTable, ...] = (
    ResultTable(
        "cleaned_users",
        (
            Column("user_id", BIGINT),
            Column("age", INT, nullable=True),
            Column("gender", STRING),
            Column("country", STRING),
            Column("subscription", STRING),
            Column("updated_at", MS),
            Column("deleted", BOOLEAN),
        ),
        key=("user_id",),
        time_column="updated_at",
    ),
    _window_table(
        "pageview_country",
        Column("country", STRING),
        (_USER_COUNT, Column("average_age", DOUBLE, nullable=True)),
    ),
    _window_table("pageview_tumbling", _SOURCE, (_USER_COUNT,)),
    _window_table("pageview_hopping", _SOURCE, (_USER_COUNT,)),
    _window_table("pageview_session", _SOURCE, (_USER_COUNT,)),
    _window_table("user_sessions", Column("user_id", BIGINT), ()),
    ResultTable(
        "late_events",
        (
            Column("view", STRING),
            Column("window_start", MS),
            Column("raw", STRING),
            Column("event_partition", INT),
            Column("event_offset", BIGINT),
        ),
        key=(),
        time_column="window_start",
    ),
    ResultTable(
        "dead_letters",
        (
            Column("raw", STRING),
            Column("reason", STRING),
            Column("received_at", MS),
            Column("event_partition", INT),
            Column("event_offset", BIGINT),
        ),
        key=(),
        time_column="received_at",
    ),
)

BY_NAME = {table.name: table for table in RESULT_TABLES}
