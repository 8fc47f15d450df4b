"""The result catalogue: every result table, declared once.

Each table says its columns and types, its key, what it counts in which windows, its Kafka
topic and its short code in engine state. Everything else is generated from here:
- the DuckDB DDL (store/schema.py) and the engine's publish statements (engine/publish.py);
- which views the engine keeps, and how (engine/processor.py, by their windowing);
- the Flink sink DDL (stack/flink_sql.py) and the topic map (stack/config.py `Topics`);
- the Pinot schemas and table configs (stack/pinot_tables.py);
- the oracle's windowed and late tables (check/oracle.py) and the dashboard's column lists.

Where the runtimes differ it is said per column: DuckDB keeps `seq` (arrival order) on the
append tables, the stack the Kafka position of the input record instead; cleaned_users on the
stack carries a `deleted` flag, since an upsert table cannot delete a row. Times (`MS`) are
TIMESTAMPTZ in DuckDB and epoch milliseconds on the stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pageviews.config import WindowConfig
from pageviews.model.records import PAGEVIEW, USERSESSION, RecordType
from pageviews.model.windows import Hopping, Session, Windower

# Logical column types; `MS` is a point in time, epoch milliseconds on the wire.
BIGINT, INT, DOUBLE, STRING, BOOLEAN, MS = "BIGINT", "INT", "DOUBLE", "STRING", "BOOLEAN", "MS"

EMBEDDED, STACK = "embedded", "stack"


class Measure(Enum):
    """What a column of a window table holds; each runtime knows how to compute each one."""

    WINDOW_START = "window_start"
    WINDOW_END = "window_end"
    KEY = "key"
    COUNT = "count"  # records counted in the window
    USERS = "users"  # distinct users among them
    AVERAGE_AGE = "average_age"  # of the users as of each page view (the country join)
    IS_FINAL = "is_final"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = False
    only: str | None = None  # EMBEDDED or STACK: a column of one runtime only
    measure: Measure | None = None


@dataclass(frozen=True)
class Windowing:
    """Which records a window table counts, keyed by which of their fields, in which windows.

    Sizes name a WindowConfig attribute, so the command line's window flags reach every view.
    """

    records: RecordType
    key_field: str  # for a joined view, the field of the user it is joined to
    size: str  # WindowConfig attribute: the window size, or a session's gap
    step: str | None = None  # WindowConfig attribute of a hopping step; None: tumbling
    session: bool = False
    joined_to_users: bool = False  # keyed by the user's field as of the record's time

    def windower(self, config: WindowConfig) -> Windower:
        size: int = getattr(config, self.size)
        if self.session:
            return Session(size)
        return Hopping(size, size if self.step is None else getattr(config, self.step))


@dataclass(frozen=True)
class ResultTable:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # the upsert key; empty for append-only tables
    time_column: str
    topic: str  # default Kafka topic of the stack
    windowing: Windowing | None = None
    code: str | None = None  # short name in engine state (cheaper to hash than the name)

    @property
    def upsert(self) -> bool:
        return bool(self.key)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def columns_of(self, runtime: str) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.only in (None, runtime))

    def measure(self, measure: Measure) -> Column | None:
        return next((c for c in self.columns if c.measure is measure), None)

    @property
    def key_column(self) -> Column:
        column = self.measure(Measure.KEY)
        assert column is not None, f"{self.name} is not a window table"
        return column

    @property
    def count_column(self) -> Column:
        column = self.measure(Measure.COUNT)
        assert column is not None, f"{self.name} is not a window table"
        return column

    @property
    def counts_users(self) -> bool:
        return self.measure(Measure.USERS) is not None


_START = Column("window_start", MS, measure=Measure.WINDOW_START)
_END = Column("window_end", MS, measure=Measure.WINDOW_END)
_FINAL = Column("is_final", BOOLEAN, measure=Measure.IS_FINAL)
_PAGEVIEWS = Column("pageview_count", BIGINT, measure=Measure.COUNT)
_USERS = Column("user_count", BIGINT, measure=Measure.USERS)


def _key(name: str, type_: str = STRING) -> Column:
    return Column(name, type_, measure=Measure.KEY)


def _window_table(
    name: str, code: str, topic: str, windowing: Windowing, columns: tuple[Column, ...]
) -> ResultTable:
    key = next(c.name for c in columns if c.measure is Measure.KEY)
    return ResultTable(
        name,
        columns,
        key=(key, "window_start"),
        time_column="window_start",
        topic=topic,
        windowing=windowing,
        code=code,
    )


def _by_source(name: str, code: str, topic: str, windowing: Windowing) -> ResultTable:
    columns = (_START, _END, _key("source"), _PAGEVIEWS, _USERS, _FINAL)
    return _window_table(name, code, topic, windowing, columns)


# The input's position: arrival order in DuckDB, the Kafka record on the stack.
_POSITION = (
    Column("seq", BIGINT, only=EMBEDDED),
    Column("event_partition", INT, only=STACK),
    Column("event_offset", BIGINT, only=STACK),
)

CLEANED_USERS = ResultTable(
    "cleaned_users",
    (
        Column("user_id", BIGINT),
        Column("age", INT, nullable=True),
        Column("gender", STRING, nullable=True),
        Column("country", STRING, nullable=True),
        Column("subscription", STRING, nullable=True),
        Column("updated_at", MS),
        Column("deleted", BOOLEAN, only=STACK),
    ),
    key=("user_id",),
    time_column="updated_at",
    topic="topic4",
)

PAGEVIEW_COUNTRY = _window_table(
    "pageview_country",
    "country",
    "topic5",
    Windowing(PAGEVIEW, "country", size="country_ms", joined_to_users=True),
    (
        _START,
        _END,
        _key("country"),
        _PAGEVIEWS,
        _USERS,
        Column("average_age", DOUBLE, nullable=True, measure=Measure.AVERAGE_AGE),
        _FINAL,
    ),
)

PAGEVIEW_TUMBLING = _by_source(
    "pageview_tumbling", "tumbling", "topic6", Windowing(PAGEVIEW, "source", size="tumbling_ms")
)
PAGEVIEW_HOPPING = _by_source(
    "pageview_hopping",
    "hopping",
    "topic7",
    Windowing(PAGEVIEW, "source", size="hopping_size_ms", step="hopping_step_ms"),
)
PAGEVIEW_SESSION = _by_source(
    "pageview_session",
    "session",
    "topic8",
    Windowing(PAGEVIEW, "source", size="session_gap_ms", session=True),
)
USER_SESSIONS = _window_table(
    "user_sessions",
    "user",
    "pageviews_user_sessions",
    Windowing(PAGEVIEW, "user_id", size="user_session_gap_ms", session=True),
    (_key("user_id", BIGINT), _START, _END, _PAGEVIEWS, _FINAL),
)

SESSIONS_BY_DEVICE = _window_table(
    "sessions_by_device",
    "device",
    "pageviews_sessions_by_device",
    Windowing(USERSESSION, "device", size="tumbling_ms"),
    (
        _START,
        _END,
        _key("device"),
        Column("login_count", BIGINT, measure=Measure.COUNT),
        _USERS,
        _FINAL,
    ),
)

LATE_EVENTS = ResultTable(
    "late_events",
    (Column("view", STRING), Column("window_start", MS), Column("raw", STRING), *_POSITION),
    key=(),
    time_column="window_start",
    topic="pageviews_late_events",
)

DEAD_LETTERS = ResultTable(
    "dead_letters",
    (Column("raw", STRING), Column("reason", STRING), Column("received_at", MS), *_POSITION),
    key=(),
    time_column="received_at",
    topic="pageviews_dead_letters",
)

# In report order (`pageviews check`, `query`'s table list).
RESULT_TABLES: tuple[ResultTable, ...] = (
    CLEANED_USERS,
    PAGEVIEW_COUNTRY,
    PAGEVIEW_TUMBLING,
    PAGEVIEW_HOPPING,
    PAGEVIEW_SESSION,
    USER_SESSIONS,
    SESSIONS_BY_DEVICE,
    LATE_EVENTS,
    DEAD_LETTERS,
)

BY_NAME = {table.name: table for table in RESULT_TABLES}

# The windowed views: each keeps open windows in engine state and reports late records.
WINDOW_TABLES = tuple(table for table in RESULT_TABLES if table.windowing is not None)
BY_CODE = {table.code: table for table in WINDOW_TABLES if table.code is not None}
