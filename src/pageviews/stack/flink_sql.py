"""Render the Flink SQL job from the `.sql` templates in `flink_sql/`.

Templates use `{{name}}` placeholders, filled only from our own configuration (window sizes,
topic names, bootstrap servers), each validated first; no input record is ever formatted into
SQL. The validation expressions for raw page views are built here, once, so the same text is
used in the source's watermark and in the dead-letter view.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from pageviews.config import WindowConfig
from pageviews.model.records import MAX_AHEAD_OF_WALL_CLOCK_MS, MIN_EVENT_MS, SOURCES
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

# The sinks' DDL is generated from the result catalogue (`sink_ddl`), between windows and inserts.
TEMPLATES = ("sources.sql", "users.sql", "windows.sql", "inserts.sql")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_BOOTSTRAP = re.compile(r"^[A-Za-z0-9.:,_-]+$")
_SOURCES = re.compile(r"^[A-Za-z]+$")

# A timestamp string: the reference "YYYY-MM-DD HH:MM:SS", or ISO 8601 with T or a space,
# fractional seconds and an optional zone (Z, +HH:MM, +HHMM, +HH).
TS_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]{1,9})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)?$"
)


# Page-view fields read by the job. Each is parsed out of the raw record once, in brackets so
# that the JSON type survives: ["x"] is a string, [5] a number, [null] a null, and NULL means
# absent (or the record is not JSON). Every check then reads these short texts: Flink parses
# the whole record again for every JSON function call, dozens of times per record otherwise.
PAGEVIEW_FIELDS = ("session_id", "user_id", "source", "event_timestamp")


def wrapped_json(path: str) -> str:
    """A field of the raw record as bracketed JSON text (one parse of the record)."""
    return f"JSON_QUERY(`raw`, '$.{path}' WITH CONDITIONAL ARRAY WRAPPER)"


def field_column(path: str) -> str:
    """The column of view pageviews_json that holds wrapped_json(path)."""
    return f"j_{path}"


def _unwrapped(wrapped: str) -> str:
    """The value inside the brackets as text (a parse of the short text only)."""
    return f"JSON_VALUE({wrapped}, '$[0]')"


def is_string(wrapped: str) -> str:
    return f"({wrapped} LIKE '[\"%')"


def is_integer(wrapped: str) -> str:
    return (
        f"(REGEXP({wrapped}, '^\\[-?[0-9]{{1,19}}\\]$') "
        f"AND TRY_CAST({_unwrapped(wrapped)} AS BIGINT) IS NOT NULL)"
    )


def timestamp_ms(wrapped: str) -> str:
    """Epoch ms of a timestamp field (string or integer epoch ms), or NULL if unparseable.

    The date and time are checked by a round trip through DATE_FORMAT, since TO_TIMESTAMP and
    UNIX_TIMESTAMP accept e.g. 2026-02-30 by rolling it over."""
    v = _unwrapped(wrapped)
    local = f"REPLACE(SUBSTR({v}, 1, 19), 'T', ' ')"
    fraction = f"REGEXP_EXTRACT({v}, '{TS_PATTERN}', 1)"
    zone = f"COALESCE(REGEXP_EXTRACT({v}, '{TS_PATTERN}', 2), '')"
    zone_digits = f"REPLACE({zone}, ':', '')"
    offset_ms = (
        f"(CASE WHEN {zone} IN ('', 'Z') THEN 0 ELSE "
        f"(CASE WHEN SUBSTR({zone}, 1, 1) = '-' THEN -1 ELSE 1 END) * "
        f"(CAST(SUBSTR({zone_digits}, 2, 2) AS BIGINT) * 60 + "
        f"COALESCE(TRY_CAST(SUBSTR({zone_digits}, 4, 2) AS BIGINT), 0)) * 60000 END)"
    )
    millis = (
        f"COALESCE(CAST(ROUND(CAST(CONCAT('0', {fraction}) AS DECIMAL(12, 9)) * 1000, 0) "
        "AS BIGINT), 0)"
    )
    return (
        f"(CASE WHEN {is_integer(wrapped)} THEN TRY_CAST({v} AS BIGINT) "
        f"WHEN {is_string(wrapped)} AND REGEXP({v}, '{TS_PATTERN}') "
        f"AND DATE_FORMAT(TO_TIMESTAMP({local}), 'yyyy-MM-dd HH:mm:ss') = {local} "
        f"THEN UNIX_TIMESTAMP({local}, 'yyyy-MM-dd HH:mm:ss') * 1000 + {millis} - {offset_ms} "
        "END)"
    )


def event_ms_in_range() -> str:
    """The page view's event time in ms if valid and not too far ahead, else 0 (watermark).

    A computed column of the source table, so it cannot use the parsed columns of the view,
    and each mention of `ms` parses the record again. Times before 2000 need no test: they
    are invalid, but too old to move the watermark (a running max) anyway."""
    ms = timestamp_ms(wrapped_json("event_timestamp"))
    return (
        f"COALESCE(CASE WHEN {ms} <= UNIX_TIMESTAMP() * 1000 + {MAX_AHEAD_OF_WALL_CLOCK_MS} "
        f"THEN {ms} END, 0)"
    )


def pageview_json_columns() -> str:
    return ",\n  ".join(f"{wrapped_json(path)} AS {field_column(path)}" for path in PAGEVIEW_FIELDS)


def pageview_reason() -> str:
    """The first problem of a raw page view, or NULL if it is valid (as the embedded rules).

    Reads the columns of view pageviews_json."""
    sources = ", ".join(f"'{s}'" for s in SOURCES if _SOURCES.match(s))
    ms = timestamp_ms(field_column("event_timestamp"))
    checks = [
        ("`raw` IS NULL OR TRIM(`raw`) = ''", "empty line"),
        ("CHAR_LENGTH(`raw`) > 65536", "line is over the 64 KiB limit"),
        ("NOT is_object", "not valid JSON or not a JSON object"),
    ]
    for field in PAGEVIEW_FIELDS:
        column = field_column(field)
        missing = f"{column} IS NULL OR {column} = '[null]'"
        checks.append((missing, f"missing or null field '{field}'"))
        if field == "session_id":
            checks.append((f"NOT {is_string(column)}", "field 'session_id' must be a string"))
        elif field == "user_id":
            checks.append(
                (
                    f"NOT {is_integer(column)} OR TRY_CAST({_unwrapped(column)} AS BIGINT) < 0",
                    "field 'user_id' must be an integer within 64 bits, >= 0",
                )
            )
        elif field == "source":
            checks.append(
                (
                    f"NOT {is_string(column)} OR {_unwrapped(column)} NOT IN ({sources})",
                    f"field 'source' must be one of {', '.join(SOURCES)}",
                )
            )
        else:
            checks.append((f"{ms} IS NULL", "field 'event_timestamp': cannot parse timestamp"))
            checks.append((f"{ms} < {MIN_EVENT_MS}", "field 'event_timestamp' is before 2000"))
            checks.append(
                (
                    f"{ms} > UNIX_TIMESTAMP() * 1000 + {MAX_AHEAD_OF_WALL_CLOCK_MS}",
                    "field 'event_timestamp' is more than one day ahead of the clock",
                )
            )
    whens = " ".join(f"WHEN {cond} THEN {_literal(reason)}" for cond, reason in checks)
    return f"(CASE {whens} END)"


def pageview_values() -> str:
    """The typed fields of a valid page view, from the columns of view pageviews_json."""
    return (
        f"{_unwrapped(field_column('session_id'))} AS session_id,\n"
        f"  CAST({_unwrapped(field_column('user_id'))} AS BIGINT) AS user_id,\n"
        f"  {_unwrapped(field_column('source'))} AS source"
    )


# Live jobs only: a partition with no record for this long stops holding the watermark back.
# Users change rarely, so their topic goes idle soon. Page view partitions get a long timeout:
# a partition that only lags behind (backpressure) and is taken for idle lets the watermark
# jump ahead of it, which makes its page views late. Replays need none: they end with +inf.
USERS_IDLE_MS = 10_000
PAGEVIEWS_IDLE_MS = 60_000


def _idle_timeout(ms: int) -> str:
    return f"'scan.watermark.idle-timeout' = '{ms} ms',"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
        "pageviews_idle": "" if bounded else _idle_timeout(PAGEVIEWS_IDLE_MS),
        "users_idle": "" if bounded else _idle_timeout(USERS_IDLE_MS),
        "pageviews_topic": _check_topic(t.pageviews),
        "users_topic": _check_topic(t.users),
        "lateness": _interval(windows.lateness_ms),
        **window_parameters(windows),
        "pageview_json_columns": pageview_json_columns(),
        "pageview_reason": pageview_reason(),
        "pageview_values": pageview_values(),
        "event_ms_in_range": event_ms_in_range(),
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
    with_list = ",\n  ".join(f"{_literal(k)} = {_literal(v)}" for k, v in options.items())
    return (
        f"CREATE TEMPORARY TABLE {sink_table(table)} (\n  {column_list}\n) WITH (\n  {with_list}\n)"
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
    for name in TEMPLATES:
        if name == "inserts.sql":
            out.extend(sink_ddl(config, table, group_id) for table in RESULT_TABLES)
        text = render((template_dir() / name).read_text(), params)
        # Statements end with a semicolon on its own line end; comments are dropped.
        lines = [ln for ln in text.splitlines() if not ln.strip().startswith("--")]
        out.extend(s.strip() for s in "\n".join(lines).split(";\n") if s.strip())
    return [s.rstrip(";") for s in out]
