"""Render the Flink SQL job from the `.sql` templates in `flink_sql/`.

Templates use `{{name}}` placeholders, filled only from our own configuration (window sizes,
topic names, bootstrap servers), each validated first; no input record is ever formatted into
SQL. The validation expressions for raw page views are rendered from the record model by
validation/flink.py, once, so the same text is used in the source's watermark and in the
dead-letter view.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from pageviews.config import WindowConfig
from pageviews.stack.config import StackConfig
from pageviews.validation.flink import (
    event_ms_in_range,
    pageview_json_columns,
    pageview_reason,
    pageview_values,
)

TEMPLATES = ("sources.sql", "users.sql", "windows.sql", "sinks.sql", "inserts.sql")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_BOOTSTRAP = re.compile(r"^[A-Za-z0-9.:,_-]+$")

# Live jobs only: a partition with no record for this long stops holding the watermark back.
# Users change rarely, so their topic goes idle soon. Page view partitions get a long timeout:
# a partition that only lags behind (backpressure) and is taken for idle lets the watermark
# jump ahead of it, which makes its page views late. Replays need none: they end with +inf.
USERS_IDLE_MS = 10_000
PAGEVIEWS_IDLE_MS = 60_000


def _idle_timeout(ms: int) -> str:
    return f"'scan.watermark.idle-timeout' = '{ms} ms',"


def _interval(ms: int) -> str:
    """An INTERVAL literal with milliseconds, e.g. INTERVAL '0 00:05:00.000' DAY TO SECOND(3).

    A plain `INTERVAL '300.000' SECOND` is refused: SECOND has a leading precision of 2 digits.
    """
    days, rest = divmod(ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1_000)
    return (
        f"INTERVAL '{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}' DAY TO SECOND(3)"
    )


def _check_topic(name: str) -> str:
    if not _TOPIC.match(name):
        raise ValueError(f"not a valid Kafka topic name: {name!r}")
    return name


def parameters(
    config: StackConfig, windows: WindowConfig, bounded: bool, group_id: str
) -> dict[str, str]:
    t = config.topics
    if not _BOOTSTRAP.match(config.bootstrap):
        raise ValueError(f"bad bootstrap servers: {config.bootstrap!r}")
    if not _TOPIC.match(group_id):
        raise ValueError(f"bad consumer group id: {group_id!r}")
    hops = windows.hops_per_event
    return {
        "bootstrap": config.bootstrap,
        "group_id": group_id,
        # At the end of a bounded read the sources emit a final +inf watermark: all is final.
        "bounded": "'scan.bounded.mode' = 'latest-offset'," if bounded else "",
        "pageviews_idle": "" if bounded else _idle_timeout(PAGEVIEWS_IDLE_MS),
        "users_idle": "" if bounded else _idle_timeout(USERS_IDLE_MS),
        "pageviews_topic": _check_topic(t.pageviews),
        "users_topic": _check_topic(t.users),
        "cleaned_users_topic": _check_topic(t.results[0]),
        "country_topic": _check_topic(t.results[1]),
        "tumbling_topic": _check_topic(t.results[2]),
        "hopping_topic": _check_topic(t.results[3]),
        "session_topic": _check_topic(t.results[4]),
        "user_sessions_topic": _check_topic(t.user_sessions),
        "late_topic": _check_topic(t.late_events),
        "dead_topic": _check_topic(t.dead_letters),
        "lateness": _interval(windows.lateness_ms),
        "tumbling": _interval(windows.tumbling_ms),
        "tumbling_ms": str(windows.tumbling_ms),
        "hop_size": _interval(windows.hopping_size_ms),
        "hop_step": _interval(windows.hopping_step_ms),
        "hop_size_ms": str(windows.hopping_size_ms),
        "hop_step_ms": str(windows.hopping_step_ms),
        # The starts of the hopping windows that hold a page view, from its own column: an
        # array of constants would be planned as a Values source joined (with state) to the
        # stream, and re-joined after a failover.
        "hop_starts": ", ".join(
            f"hop_last_start - {k * windows.hopping_step_ms}" for k in range(hops)
        ),
        "session_gap": _interval(windows.session_gap_ms),
        "user_session_gap": _interval(windows.user_session_gap_ms),
        "country": _interval(windows.country_ms),
        "country_ms": str(windows.country_ms),
        "pageview_json_columns": pageview_json_columns(),
        "pageview_reason": pageview_reason(),
        "pageview_values": pageview_values(),
        "event_ms_in_range": event_ms_in_range(),
    }


def render(text: str, params: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise KeyError(f"no value for placeholder {{{{{name}}}}}")
        return params[name]

    return _PLACEHOLDER.sub(fill, text)


def template_dir() -> Path:
    return Path(str(resources.files("pageviews.stack") / "flink_sql"))


def statements(
    config: StackConfig, windows: WindowConfig, bounded: bool, group_id: str = "pageviews-flink"
) -> list[str]:
    """The job's statements in order: DDL and views, then the INSERTs (one statement set)."""
    params = parameters(config, windows, bounded, group_id)
    out: list[str] = []
    for name in TEMPLATES:
        text = render((template_dir() / name).read_text(), params)
        # Statements end with a semicolon on its own line end; comments are dropped.
        lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
        out.extend(s.strip() for s in "\n".join(lines).split(";\n") if s.strip())
    return [s.rstrip(";") for s in out]
