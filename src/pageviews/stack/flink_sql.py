"""Render the Flink SQL job from the `.sql` templates in `flink_sql/`.

Templates use `{{name}}` placeholders, filled only from our own configuration (window sizes,
topic names, bootstrap servers), each validated first; no input record is ever formatted into
SQL. The validation expressions for raw page views are rendered from the record model by
validation/flink.py, once, so the same text is used in the source's watermark and in the
dead-letter view.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pageviews.config import WindowConfig
from pageviews.model.records import PAGEVIEW, USERSESSION, RecordType
from pageviews.model.results import (
    BIGINT,
    BOOLEAN,
    DOUBLE,
    INT,
    MS,
    RESULT_TABLES,
    STACK,
    STRING,
    WINDOW_TABLES,
    ResultTable,
)
from pageviews.model.windows import Session
from pageviews.stack.config import StackConfig
from pageviews.validation.flink import (
    canonical_match,
    canonical_values,
    dead_letter_raw,
    event_ms_in_range,
    json_columns,
    literal,
    record_reason,
    record_values,
)

# Upsert sinks buffer at most this many rows, or this long (adds to freshness).
SINK_BUFFER_ROWS = 5000
SINK_BUFFER_MS = 200

# In order: raw_records.sql is rendered first, once per raw stream (`RAW_STREAMS`); the sinks'
# DDL is generated from the result catalogue (`sink_ddl`), between windows and inserts.
TEMPLATES = ("sources.sql", "users.sql", "windows.sql", "inserts.sql")
RAW_RECORDS_TEMPLATE = "raw_records.sql"
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_BOOTSTRAP = re.compile(r"^[A-Za-z0-9.:,_-]+$")

# Live jobs only: a partition with no record for this long stops holding the watermark back.
# Users change rarely, so their topic goes idle soon. Raw record partitions (page views, user
# sessions) get a long timeout: a partition that only lags behind (backpressure) and is taken
# for idle lets the watermark jump ahead of it, which makes its records late. Replays need
# none: they end with +inf.
USERS_IDLE_MS = 10_000
RAW_RECORDS_IDLE_MS = 60_000


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
    return {
        "bootstrap": config.bootstrap,
        "group_id": group_id,
        # At the end of a bounded read the sources emit a final +inf watermark: all is final.
        "bounded": "'scan.bounded.mode' = 'latest-offset'," if bounded else "",
        "users_idle": "" if bounded else _idle_timeout(USERS_IDLE_MS),
        "users_topic": _check_topic(t.users),
        "lateness": _interval(windows.lateness_ms),
        **window_parameters(windows),
    }


# Flink's type of each logical column type of the result catalogue (times are epoch ms).
_FLINK_TYPES = {
    BIGINT: "BIGINT",
    INT: "INT",
    DOUBLE: "DOUBLE",
    STRING: "STRING",
    BOOLEAN: "BOOLEAN",
    MS: "BIGINT",
}


def sink_table(table: ResultTable) -> str:
    """The Flink table that writes result table `table` to its topic."""
    return f"{table.name}_out"


def sink_ddl(config: StackConfig, table: ResultTable, group_id: str) -> str:
    """A result table's sink: upsert-kafka keyed by the catalogue's key (key = JSON of the key
    columns, value = JSON of all columns), or, for append-only tables, Kafka transactions
    committed at each checkpoint."""
    columns = [f"`{c.name}` {_FLINK_TYPES[c.type]}" for c in table.columns_of(STACK)]
    options = {
        "topic": _check_topic(config.topics.result(table.name)),
        "properties.bootstrap.servers": config.bootstrap,
    }
    if table.upsert:
        columns.append(f"PRIMARY KEY ({', '.join(table.key)}) NOT ENFORCED")
        options |= {
            "connector": "upsert-kafka",
            "key.format": "json",
            "value.format": "json",
            "value.fields-include": "ALL",
            # Rows are buffered and compacted by key before they are written: without it, each
            # page view writes a retraction and a new row per view, replicated three times.
            "sink.buffer-flush.max-rows": str(SINK_BUFFER_ROWS),
            "sink.buffer-flush.interval": f"{SINK_BUFFER_MS} ms",
        }
    else:
        options |= {
            "connector": "kafka",
            "properties.transaction.timeout.ms": "600000",
            "sink.delivery-guarantee": "exactly-once",
            "sink.transactional-id-prefix": f"{group_id}-{table.name}",
            "format": "json",
        }
    column_list = ",\n  ".join(columns)
    with_list = ",\n  ".join(f"{literal(k)} = {literal(v)}" for k, v in options.items())
    return (
        f"CREATE TEMPORARY TABLE {sink_table(table)} (\n  {column_list}\n) WITH (\n  {with_list}\n)"
    )


@dataclass(frozen=True)
class RawStream:
    """A topic of raw records the job reads and checks itself: views `<name>_in`, `<name>_json`,
    `<name>` (the valid ones) and `<name>_dead` (the refused ones, with the reason)."""

    name: str
    record_type: RecordType
    topic: str

    def parameters(self, bounded: bool) -> dict[str, str]:
        return {
            "records": self.name,
            "topic": _check_topic(self.topic),
            # A partition with no record for a while must not hold back a live watermark.
            "idle": "" if bounded else _idle_timeout(RAW_RECORDS_IDLE_MS),
            "json_columns": json_columns(self.record_type),
            "reason": record_reason(self.record_type),
            "values": record_values(self.record_type),
            "ms_in_range": event_ms_in_range(self.record_type),
            "canonical": canonical_match(self.record_type),
            "canonical_values": canonical_values(self.record_type),
            "dead_raw": dead_letter_raw("`raw`"),
        }


def raw_streams(config: StackConfig) -> tuple[RawStream, ...]:
    return (
        RawStream("pageviews", PAGEVIEW, config.topics.pageviews),
        RawStream("usersessions", USERSESSION, config.topics.sessions),
    )


def window_parameters(windows: WindowConfig) -> dict[str, str]:
    """Each window view's sizes, from its windower: `<code>_size[_ms]`, `<code>_step[_ms]` and
    `<code>_starts` for fixed windows, `<code>_gap[_ms]` for sessions."""
    params: dict[str, str] = {}
    for table in WINDOW_TABLES:
        assert table.windowing is not None
        windower = table.windowing.windower(windows)
        code = table.code
        if isinstance(windower, Session):
            params |= {
                f"{code}_gap": _interval(windower.gap_ms),
                f"{code}_gap_ms": str(windower.gap_ms),
            }
            continue
        params |= {
            f"{code}_size": _interval(windower.size_ms),
            f"{code}_size_ms": str(windower.size_ms),
            f"{code}_step": _interval(windower.step_ms),
            f"{code}_step_ms": str(windower.step_ms),
            # The starts of every window that holds a record, from its own column: an array of
            # constants would be planned as a Values source joined (with state) to the stream,
            # and re-joined after a failover.
            f"{code}_starts": ", ".join(
                f"{code}_last_start - {offset}" for offset in windower.back_offsets().tolist()
            ),
        }
    return params


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
    raw_records = (template_dir() / RAW_RECORDS_TEMPLATE).read_text()
    for stream in raw_streams(config):
        out.extend(_split(render(raw_records, params | stream.parameters(bounded))))
    for name in TEMPLATES:
        if name == "inserts.sql":
            out.extend(sink_ddl(config, table, group_id) for table in RESULT_TABLES)
        out.extend(_split(render((template_dir() / name).read_text(), params)))
    return out


def _split(text: str) -> list[str]:
    """Statements end with a semicolon on its own line end; comments are dropped."""
    lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
    return [s.strip().rstrip(";") for s in "\n".join(lines).split(";\n") if s.strip()]
