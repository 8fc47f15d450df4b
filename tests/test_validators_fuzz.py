"""Mutated lines: the compiled scan, the DuckDB checks and the per-record validator agree.

Valid lines of every record type are mutated (cut short, bytes put in or taken out, values
replaced by escapes, surrogates, huge or float or NaN numbers, nesting, timestamps, keys given
twice, whitespace, trailing commas) and each validator judges the result:

- the precise DuckDB checks alone give the verdict, the reason, and the typed values;
- the engine's way (the scan, then the precise checks for what it leaves pending) gives exactly
  the same rows: a line the scan accepts has the precise values; pending is always fine;
- the per-record validator (validation/record.py) gives the same verdict and reason, and, for an
  accepted line, the same values.

Python's strict `json` is the reference for valid JSON (tests/conformance holds the golden
lines). The default run is short, for the fast tier; a long one sets FUZZ_EXAMPLES:

    FUZZ_EXAMPLES=100000 .venv/bin/pytest -q -s --timeout=0 tests/test_validators_fuzz.py
"""

from __future__ import annotations

import json
import os
from typing import Any

import duckdb
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pageviews.engine.parse import parse_batch
from pageviews.model.records import MAX_JSON_DEPTH, RECORD_TYPES, Kind
from pageviews.validation.precise import OUTPUT_COLUMNS, define_macros, precise_rows
from pageviews.validation.record import InvalidRecord, timestamp_ms, validate_line

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
RECEIVED_MS = 1_780_272_000_000  # 2026-06-01, as the conformance table
BATCH_LINES = 5_000
COLUMNS = ["seq", "reason", "record_type", "op", *OUTPUT_COLUMNS, "event_time_ms"]

VALID_LINES = [
    '{"type":"pageview","session_id":"s1","user_id":7,"source":"Inbox",'
    '"event_timestamp":"2024-05-01 10:00:00"}',
    '{"type":"pageview","session_id":"a\\u00e9","user_id":0,"source":"External",'
    '"event_timestamp":1714557600000,"extra":[1,{"a":true}]}',
    '{"type":"usersession","session_id":"s2","user_id":8,"user_name":"ana",'
    '"login_timestamp":"2024-05-01T12:00:00.250+02:00","device":"Tablet"}',
    '{"type":"user","op":"upsert","user_id":9,"age":42,"gender":"F","country":"DE",'
    '"subscription":"Gold","updated_at":"2024-05-01T10:00:00Z"}',
    '{"type":"user","op":"delete","user_id":9,"updated_at":1714557600000}',
    ' { "type" : "user" , "op" : "upsert" , "user_id" : 1 , "age" : null ,'
    ' "updated_at" : "2024-05-01 10:00:00.5" } ',
]

TIMESTAMPS = [
    "2024-05-01 10:00:00",
    "2024-05-01T10:00:00.123456789Z",
    "2024-05-01T10:00:00.1234567890Z",
    "2024-05-01T12:00:00+0200",
    "2024-05-01T12:00:00+02",
    "2024-05-02T00:00:00+14:00",
    "2024-05-02T00:00:00+14:01",
    "2024-05-01T10:00:00+99:00",
    "2024-05-01T10:00:00+00:60",
    "2024-05-01 24:00:00",
    "2024-05-01 10:00:0Z",
    "2024-05-01 10:00: 0",
    "2024-05-01 10:00:00.Z",
    "2024-05-01 10:00:00 ",
    "2024-05-01 10:00:00 UTC",
    "2024-02-30 10:00:00",
    "1999-12-31T23:59:59.9995Z",
    "2026-06-02 00:00:00",
    "2026-06-02T00:00:00.001Z",
]
VALUES = [
    # escapes and surrogates
    '"\\u00e9"',
    '"\\ud83d\\ude00"',
    '"\\ud800"',
    '"x\\udc00"',
    '"\\ud83d"',
    '"a\\"b"',
    '"\\/\\b\\f\\n\\r\\t"',
    '"\\u0000"',
    '"\\x"',
    '"In\\u0062ox"',
    '"Inbox"',
    '"Mobile"',
    '"Gold"',
    '"pageview"',
    '"user"',
    '"upsert"',
    '"delete"',
    '"NaN"',
    '""',
    # numbers
    "0",
    "-0",
    "7",
    "07",
    "1.0",
    "1.5",
    "1e3",
    "1E400",
    "-1e-400",
    "2.5e-7",
    "1714557600000",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "123456789012345678901234567890",
    "1" * 400,
    "NaN",
    "Infinity",
    "-Infinity",
    "nan",
    "inf",
    "-inf",
    "+1",
    ".5",
    "1.",
    "0x10",
    # other JSON values, nesting
    "true",
    "false",
    "null",
    "[]",
    "{}",
    "[1,]",
    '{"a":1,}',
    '[1,{"a":[null,{"b":"c"}]}]',
    '{"k":1,"k":2}',
]
INSERTS = list('{}[]":,\\ 0123456789-+.eENaIn\t\r\x0b\x0c\n\x00\x7fé€😀') + [
    ",}",
    ",]",
    "\\u",
    "\\ud800",
    "NaN",
    "Infinity",
    '"user_id":7,',
    '"type":"pageview",',
    '"op":"upsert",',
    "\ufeff",
    "\u00a0",
]


# Any character but a lone surrogate (a line is decoded UTF-8: it cannot hold one).
_CHARACTERS = st.characters(exclude_categories=["Cs"])
# How a valid line is changed, each as often as it appears here.
MUTATIONS = (
    ["value"] * 5
    + ["duplicate"] * 2
    + ["space"] * 2
    + [
        "comma",
        "truncate",
        "insert",
        "delete",
    ]
)
SPACES = [" ", "\t", "\r", "\n", "\r\n", "\x0b", "\x0c", "\u00a0", "\u2028", "\x00"]


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _values() -> st.SearchStrategy[str]:
    texts = st.text(_CHARACTERS, max_size=8)
    return st.one_of(
        st.sampled_from(VALUES),
        st.sampled_from(TIMESTAMPS).map(json.dumps),
        st.integers(-(2**65), 2**65).map(str),
        st.floats(allow_nan=False).map(repr),
        texts.map(json.dumps),
        texts.map(lambda text: json.dumps(text, ensure_ascii=False)),
        st.integers(1, 60).map(_nested),
        st.integers(MAX_JSON_DEPTH - 3, MAX_JSON_DEPTH + 1).map(_nested),  # at the limit
    )


@st.composite
def _mutated_line(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(VALID_LINES))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(MUTATIONS))
        if kind == "truncate":
            line = line[: draw(st.integers(min(1, len(line)), len(line)))]
        elif kind == "insert":
            at = draw(st.integers(0, len(line)))
            piece = draw(st.one_of(st.sampled_from(INSERTS), _CHARACTERS))
            line = line[:at] + piece + line[at:]
        elif kind == "delete":
            at = draw(st.integers(0, len(line)))
            line = line[:at] + line[at + draw(st.integers(1, 4)) :]
        elif kind == "space":
            tokens = [i for i, char in enumerate(line) if char in '{}[]:,"']
            if tokens:
                at = draw(st.sampled_from(tokens)) + draw(st.integers(0, 1))
                line = line[:at] + draw(st.sampled_from(SPACES)) + line[at:]
        elif kind == "comma":
            closers = [i for i, char in enumerate(line) if char in "}]"]
            if closers:
                at = draw(st.sampled_from(closers))
                line = line[:at] + draw(st.sampled_from([",", " , ", ",\t"])) + line[at:]
        else:
            # A key's colon (a colon right after a quote, a timestamp's colons mostly not).
            colons = [i for i, char in enumerate(line) if char == ":" and line[:i].endswith('"')]
            if not colons:
                continue
            at = draw(st.sampled_from(colons))
            ends = [i for i in (line.find(",", at), line.find("}", at)) if i >= 0]
            end = min(ends) if ends else len(line)
            value = draw(_values())
            if kind == "value":
                line = line[: at + 1] + value + line[end:]
            else:  # a key given twice: the value before the first one counts
                start = line.rfind('"', 0, line.rfind('"', 0, at)) if at else 0
                key = line[start:at]
                line = line[:start] + key + ":" + value + "," + line[start:]
    return line


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    define_macros(con)
    return con


ENGINE = _connect()
PRECISE = _connect()


def _rows(
    con: duckdb.DuckDBPyConnection, relation: str, parameters: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    query = f"SELECT {', '.join(COLUMNS)} FROM {relation} ORDER BY seq"  # noqa: S608
    result = con.execute(query, parameters)
    return [dict(zip(COLUMNS, row, strict=True)) for row in result.fetchall()]


def _precise(lines: list[str]) -> list[dict[str, Any]]:
    table = pa.table(
        {
            "seq": pa.array(range(len(lines)), pa.int64()),
            "line": pa.array(lines, pa.string()),
            "pre_reason": pa.nulls(len(lines), pa.string()),
        }
    )
    PRECISE.register("fuzz_lines", table)
    PRECISE.execute("CREATE OR REPLACE TEMP TABLE batch_pending_lines AS FROM fuzz_lines")
    PRECISE.unregister("fuzz_lines")
    return _rows(PRECISE, precise_rows(macro=True), {"received_ms": RECEIVED_MS})


def _engine(lines: list[str]) -> list[dict[str, Any]]:
    parsed = parse_batch(ENGINE, pa.array(lines, pa.string()), None, 0, RECEIVED_MS, macro=True)
    ENGINE.register("valid_arrow", parsed.valid)
    relation = "(SELECT NULL::VARCHAR AS reason, * FROM valid_arrow"
    if parsed.dead:
        relation += " UNION ALL BY NAME SELECT * FROM batch_precise WHERE reason IS NOT NULL"
    rows = _rows(ENGINE, relation + ")")
    ENGINE.unregister("valid_arrow")
    return rows


def _per_record(line: str) -> tuple[str | None, dict[str, Any] | None]:
    """The per-record verdict: (reason, None) or (None, the record's own columns)."""
    try:
        rtype, record = validate_line(line, RECEIVED_MS)
    except InvalidRecord as error:
        return str(error), None
    values: dict[str, Any] = {"record_type": rtype.name, "op": rtype.op}
    for field in rtype.fields:
        value = record.get(field.name)
        values[field.column_name] = timestamp_ms(value) if field.kind is Kind.TIMESTAMP else value
    return None, values


def _own_columns(row: dict[str, Any]) -> dict[str, Any]:
    rtype = next(r for r in RECORD_TYPES if (r.name, r.op) == (row["record_type"], row["op"]))
    columns = ["record_type", "op", *(field.column_name for field in rtype.fields)]
    return {column: row[column] for column in columns}


def check_lines(lines: list[str]) -> None:
    """Every validator judges every line; each line gets one verdict (the first disagreement
    fails with its line)."""
    for start in range(0, len(lines), BATCH_LINES):
        batch = lines[start : start + BATCH_LINES]
        precise_rows_ = _precise(batch)
        engine_rows = _engine(batch)
        for line, precise, engine in zip(batch, precise_rows_, engine_rows, strict=True):
            assert engine == precise, f"the scan's row differs from the precise one: {line!r}"
            reason, values = _per_record(line)
            assert reason == precise["reason"], f"the per-record reason differs: {line!r}"
            if values is not None:
                assert values == _own_columns(precise), f"per-record values differ: {line!r}"


def test_mutated_lines_get_one_verdict_from_every_validator() -> None:
    """Hypothesis draws the lines; DuckDB judges them in batches, since one query costs tens of
    milliseconds whatever its size (the per-record validator takes each line alone)."""
    lines: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(_mutated_line())
    def draw(line: str) -> None:
        lines.append(line)
        _per_record(line)  # never raises but InvalidRecord

    draw()
    distinct = list(dict.fromkeys(lines))
    print(f"fuzz: {len(lines)} examples, {len(distinct)} distinct lines")  # noqa: T201 - with -s
    check_lines(distinct)


def test_the_valid_lines_are_valid() -> None:
    check_lines(VALID_LINES)
    assert all(_per_record(line)[0] is None for line in VALID_LINES)
