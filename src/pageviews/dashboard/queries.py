"""The dashboard's questions, as pure functions over a Store. Every parameter is bound.

Each function takes a Store (and parameters) and returns plain data, so the tests can check the
numbers the dashboard shows without a browser. The SQL runs as it is on DuckDB (the embedded
runtime) and on Pinot (the stack), so that Pinot answers with aggregates, filters, ORDER BY and
LIMIT of its own; the few differences are chosen by `store.dialect`:
- the pipeline's status is a view in DuckDB, and two aggregates on Pinot (which knows no more);
- a duration is `epoch(end) - epoch(start)` in DuckDB, a difference of epoch ms in Pinot;
- arrival order is `seq` in DuckDB, the Kafka offset on the stack.
Every selection has a LIMIT (Pinot's default is 10 rows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pageviews.config import WindowConfig
from pageviews.model.records import UNKNOWN_COUNTRY
from pageviews.model.results import BY_NAME, Measure
from pageviews.store.base import PINOT, Store

# A window table's rows in the charts' time range: a few keys per window, far below this.
MAX_WINDOW_ROWS = 50_000


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str | int | None
    delta: int | None  # against the previous complete window
    help: str


@dataclass(frozen=True)
class Status:
    newest_event_at: datetime | None
    watermark_at: datetime | None
    input_ended: bool
    records_received: int
    user_session_gap_s: float

    def freshness_s(self, now: datetime) -> float | None:
        """Wall clock minus the newest event time applied."""
        if self.newest_event_at is None:
            return None
        return (now - self.newest_event_at).total_seconds()


def status(store: Store) -> Status:
    if store.dialect == PINOT:
        return _pinot_status(store)
    rows = store.query("SELECT * FROM pipeline_status").records()
    if not rows:
        return Status(None, None, False, 0, 0.0)
    row = rows[0]
    return Status(
        newest_event_at=row["newest_event_at"],
        watermark_at=row["watermark_at"],
        input_ended=bool(row["input_ended"]),
        records_received=int(row["records_received"] or 0),
        user_session_gap_s=(row["user_session_gap_ms"] or 0) / 1000,
    )


def _pinot_status(store: Store) -> Status:
    """What Pinot's tables tell: the newest window start is a lower bound of the newest event
    time, and the newest final window's end one of the watermark. Input is never known to end,
    and the received count is not in Pinot."""
    newest = store.query("SELECT max(window_start) AS newest_event_at FROM pageview_tumbling")
    final = store.query(
        "SELECT max(window_end) AS watermark_at FROM pageview_tumbling WHERE is_final = true"
    )
    return Status(
        newest_event_at=_time_or_none(newest.rows[0][0]),
        watermark_at=_time_or_none(final.rows[0][0]),
        input_ended=False,
        records_received=0,
        user_session_gap_s=WindowConfig().user_session_gap_ms / 1000,
    )


def _time_or_none(value: Any) -> datetime | None:
    """An aggregate over no rows is NULL in DuckDB, -Infinity in Pinot."""
    return value if isinstance(value, datetime) else None


def _count(value: Any) -> int:
    """A sum over no rows is NULL in DuckDB, 0.0 in Pinot; Pinot's sums are doubles."""
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def has_data(store: Store) -> bool:
    return bool(store.query("SELECT count(*) FROM pageview_tumbling").rows[0][0])


def _last_two_complete(store: Store, table: str, column: str, where: str = "") -> list[Any]:
    """[(window_start, total), ...] for the two latest complete windows, newest first."""
    sql = (
        f"SELECT window_start, sum({column}) AS total FROM {table} "  # noqa: S608 - our names
        f"WHERE is_final = true {where} GROUP BY window_start ORDER BY window_start DESC LIMIT 2"
    )
    return store.query(sql).rows


def _top(store: Store, table: str, key: str, window_start: datetime) -> tuple[str, int] | None:
    sql = (
        f"SELECT {key}, pageview_count FROM {table} "  # noqa: S608 - our names
        f"WHERE window_start = ? AND {key} <> ? ORDER BY pageview_count DESC, {key} LIMIT 1"
    )
    rows = store.query(sql, [window_start, UNKNOWN_COUNTRY]).rows
    return (rows[0][0], int(rows[0][1])) if rows else None


def _count_of(store: Store, table: str, key: str, value: str, window_start: datetime) -> int:
    sql = (
        f"SELECT sum(pageview_count) FROM {table} "  # noqa: S608 - our names
        f"WHERE window_start = ? AND {key} = ?"
    )
    return _count(store.query(sql, [window_start, value]).rows[0][0])


def kpis(store: Store) -> list[Kpi]:
    """The four tiles, each against the previous complete window."""
    views = _last_two_complete(store, "pageview_tumbling", "pageview_count")
    users = _last_two_complete(store, "pageview_country", "user_count")
    if not views:
        return []
    last_start = views[0][0]
    previous_start = views[1][0] if len(views) > 1 else None

    def delta(rows: list[Any]) -> int | None:
        return _count(rows[0][1]) - _count(rows[1][1]) if len(rows) > 1 else None

    tiles = [
        Kpi(
            "Page views, last complete window",
            _count(views[0][1]),
            delta(views),
            f"window starting {last_start:%Y-%m-%d %H:%M} UTC",
        ),
        Kpi(
            "Active users",
            _count(users[0][1]) if users else None,
            delta(users),
            "distinct users per country, summed, in the last complete window",
        ),
    ]
    for label, table, key in (
        ("Top source", "pageview_tumbling", "source"),
        ("Top country", "pageview_country", "country"),
    ):
        top = _top(store, table, key, last_start)
        top_delta = None
        if top is not None and previous_start is not None:
            top_delta = top[1] - _count_of(store, table, key, top[0], previous_start)
        tiles.append(
            Kpi(
                label,
                top[0] if top else None,
                top_delta,
                f"{top[1]:,} page views" if top else "no page views",
            )
        )
    return tiles


# What a window table's chart can show: its counts and averages, by their catalogue names.
_CHARTED = (Measure.COUNT, Measure.USERS, Measure.AVERAGE_AGE)


def window_rows(store: Store, table: str, since: datetime) -> list[dict[str, Any]]:
    """Rows of a window table from `since` on (event time), oldest first: window_start, its key
    as `key`, its measures by their own names, and is_final."""
    result = BY_NAME[table]
    measures = [c.name for c in result.columns if c.measure in _CHARTED]
    key = result.key_column.name
    columns = ", ".join(["window_start", f"{key} AS key", *measures, "is_final"])
    sql = (
        f"SELECT {columns} FROM {table} WHERE window_start >= ? "  # noqa: S608 - catalogue names
        f"ORDER BY window_start, {key} LIMIT {MAX_WINDOW_ROWS}"
    )
    return store.query(sql, [since]).records()


@dataclass(frozen=True)
class SessionHistograms:
    """Complete per-user sessions in the time range, counted per whole minute of length
    (`minutes`) and per page-view count (`pageview_count`), as rows with `sessions`."""

    lengths: list[dict[str, Any]]
    pageviews: list[dict[str, Any]]


# Histogram bins returned per query: far more than any chart draws.
MAX_BINS = 10_000


def session_histograms(store: Store, since: datetime, gap_s: float) -> SessionHistograms:
    """Counted by the store (GROUP BY), so a refresh reads bins, not sessions."""
    if store.dialect == PINOT:
        seconds = "(window_end - window_start) / 1000.0"
    else:
        seconds = "epoch(window_end) - epoch(window_start)"
    # A session's length is its span minus the gap that closed it.
    minutes = f"floor(({seconds} - ?) / 60)"
    complete = "FROM user_sessions WHERE is_final = true AND window_start >= ?"
    lengths = store.query(
        f"SELECT {minutes} AS minutes, count(*) AS sessions {complete} "  # noqa: S608 - ours
        f"GROUP BY minutes ORDER BY minutes LIMIT {MAX_BINS}",
        [gap_s, since],
    ).records()
    pageviews = store.query(
        f"SELECT pageview_count, count(*) AS sessions {complete} "  # noqa: S608 - ours
        f"GROUP BY pageview_count ORDER BY pageview_count LIMIT {MAX_BINS}",
        [since],
    ).records()
    return SessionHistograms(
        [{"minutes": int(r["minutes"]), "sessions": int(r["sessions"])} for r in lengths],
        [
            {"pageview_count": int(r["pageview_count"]), "sessions": int(r["sessions"])}
            for r in pageviews
        ],
    )


def health_counts(store: Store) -> dict[str, int]:
    late = store.query("SELECT count(*) FROM late_events").rows[0][0]
    dead = store.query("SELECT count(*) FROM dead_letters").rows[0][0]
    return {"late_events": int(late), "dead_letters": int(dead)}


def latest_dead_letters(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    # Arrival order: seq in DuckDB; on the stack, the time Flink refused it, then its offset.
    newest_first = "received_at DESC, event_offset DESC" if store.dialect == PINOT else "seq DESC"
    sql = f"SELECT received_at, reason, raw FROM dead_letters ORDER BY {newest_first} LIMIT ?"  # noqa: S608
    rows = store.query(sql, [limit]).records()
    return [row | {"raw": row["raw"][:200]} for row in rows]


def chart_start(status: Status, hours: float) -> datetime:
    """Charts show `hours` of event time up to the newest event (replays are in the past)."""
    newest = status.newest_event_at or datetime.now(UTC)
    return newest - timedelta(hours=hours)


# The window tables with a chart, in page order.
CHARTED_TABLES = (
    "pageview_country",
    "pageview_tumbling",
    "pageview_hopping",
    "pageview_session",
    "sessions_by_device",
)


@dataclass(frozen=True)
class Refresh:
    """Everything one dashboard refresh shows."""

    status: Status
    kpis: list[Kpi]
    windows: dict[str, list[dict[str, Any]]]  # CHARTED_TABLES' rows in the time range
    sessions: SessionHistograms
    health: dict[str, int]
    dead_letters: list[dict[str, Any]]


def refresh(store: Store, hours: float) -> Refresh | None:
    """One refresh's queries (None: no page view counted yet). The bench times this too."""
    current = status(store)
    if not has_data(store):
        return None
    since = chart_start(current, hours)
    return Refresh(
        status=current,
        kpis=kpis(store),
        windows={table: window_rows(store, table, since) for table in CHARTED_TABLES},
        sessions=session_histograms(store, since, current.user_session_gap_s),
        health=health_counts(store),
        dead_letters=latest_dead_letters(store),
    )
