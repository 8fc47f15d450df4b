"""The dashboard's questions, as pure functions over a Store. Every parameter is bound.

Each function takes a Store (and parameters) and returns plain data, so the tests can check the
numbers the dashboard shows without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pageviews.model.records import UNKNOWN_COUNTRY
from pageviews.model.results import BY_NAME, Measure
from pageviews.store.base import Store


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


def has_data(store: Store) -> bool:
    return bool(store.query("SELECT count(*) FROM pageview_tumbling").rows[0][0])


def _last_two_complete(store: Store, table: str, column: str, where: str = "") -> list[Any]:
    """[(window_start, total), ...] for the two latest complete windows, newest first."""
    sql = (
        f"SELECT window_start, sum({column}) AS total FROM {table} "  # noqa: S608 - our names
        f"WHERE is_final {where} GROUP BY window_start ORDER BY window_start DESC LIMIT 2"
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
        f"SELECT coalesce(sum(pageview_count), 0) FROM {table} "  # noqa: S608 - our names
        f"WHERE window_start = ? AND {key} = ?"
    )
    return int(store.query(sql, [window_start, value]).rows[0][0])


def kpis(store: Store) -> list[Kpi]:
    """The four tiles, each against the previous complete window."""
    views = _last_two_complete(store, "pageview_tumbling", "pageview_count")
    users = _last_two_complete(store, "pageview_country", "user_count")
    if not views:
        return []
    last_start = views[0][0]
    previous_start = views[1][0] if len(views) > 1 else None

    def delta(rows: list[Any]) -> int | None:
        return int(rows[0][1]) - int(rows[1][1]) if len(rows) > 1 else None

    tiles = [
        Kpi(
            "Page views, last complete window",
            int(views[0][1]),
            delta(views),
            f"window starting {last_start:%Y-%m-%d %H:%M} UTC",
        ),
        Kpi(
            "Active users",
            int(users[0][1]) if users else None,
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
    columns = ", ".join(["window_start", f"{result.key_column.name} AS key", *measures, "is_final"])
    sql = f"SELECT {columns} FROM {table} WHERE window_start >= ? ORDER BY window_start, key"  # noqa: S608 - catalogue names
    return store.query(sql, [since]).records()


def user_session_rows(store: Store, since: datetime, gap_s: float, limit: int) -> list[Any]:
    """(length in minutes, page views) of the latest complete per-user sessions."""
    sql = (
        "SELECT (epoch(window_end) - epoch(window_start) - ?) / 60.0 AS length_min, "
        "pageview_count FROM user_sessions WHERE is_final AND window_start >= ? "
        "ORDER BY window_start DESC LIMIT ?"
    )
    return store.query(sql, [gap_s, since, limit]).records()


def health_counts(store: Store) -> dict[str, int]:
    late = store.query("SELECT count(*) FROM late_events").rows[0][0]
    dead = store.query("SELECT count(*) FROM dead_letters").rows[0][0]
    return {"late_events": int(late), "dead_letters": int(dead)}


def latest_dead_letters(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    sql = (
        "SELECT received_at, reason, left(raw, 200) AS raw FROM dead_letters "
        "ORDER BY seq DESC LIMIT ?"
    )
    return store.query(sql, [limit]).records()


def chart_start(status: Status, hours: float) -> datetime:
    """Charts show `hours` of event time up to the newest event (replays are in the past)."""
    newest = status.newest_event_at or datetime.now(UTC)
    return newest - timedelta(hours=hours)
