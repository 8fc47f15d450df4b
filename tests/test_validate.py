"""Every kind of bad input gets a dead-letter reason; every good shape is accepted."""

from __future__ import annotations

import io
import json
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pageviews.engine.parse import parse_batch
from pageviews.model.records import MAX_LINE_BYTES, dead_letter_raw
from pageviews.sources.jsonl import read_line_chunks
from pageviews.validation.precise import OUTPUT_COLUMNS

RECEIVED_MS = 1_795_000_000_000  # 2026-11-18
PV = '"type":"pageview","session_id":"s1","user_id":7,"source":"Inbox"'
SOME_COLUMNS = "reason, record_type, op, user_id, event_time_ms"
OUTPUT_KEYS = sorted({field.name for field in OUTPUT_COLUMNS.values()})
ALL_COLUMNS = ", ".join(["seq", "reason", "record_type", "op", *OUTPUT_COLUMNS, "event_time_ms"])


def _parse(
    lines: list[str], pre: list[str | None] | None = None, columns: str = SOME_COLUMNS
) -> list[tuple[Any, ...]]:
    """Rows of every line, valid or not, in line order: a valid one has reason NULL."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    reasons = None if pre is None else pa.array(pre, pa.string())
    parsed = parse_batch(con, pa.array(lines, pa.string()), reasons, 0, RECEIVED_MS)
    con.register("valid_arrow", parsed.valid)
    rows = "SELECT NULL::VARCHAR AS reason, * FROM valid_arrow"
    if parsed.dead:
        rows += " UNION ALL BY NAME SELECT * FROM batch_precise WHERE reason IS NOT NULL"
    query = f"SELECT {columns} FROM ({rows}) ORDER BY seq"  # noqa: S608 - test constants
    result = con.execute(query).fetchall()
    assert len(result) == len(lines)
    return result


@pytest.mark.parametrize(
    ("line", "expected_ms"),
    [
        ("{" + PV + ',"event_timestamp":"2026-01-01 00:00:01"}', 1_767_225_601_000),
        ("{" + PV + ',"event_timestamp":"2026-01-01T00:00:01Z"}', 1_767_225_601_000),
        ("{" + PV + ',"event_timestamp":"2026-01-01T02:00:01+02:00"}', 1_767_225_601_000),
        ("{" + PV + ',"event_timestamp":"2026-01-01 00:00:01.250Z"}', 1_767_225_601_250),
        ("{" + PV + ',"event_timestamp":1767225601000}', 1_767_225_601_000),
        ('  {"extra":1,' + PV + ',"event_timestamp":1767225601000}', 1_767_225_601_000),
    ],
)
def test_every_timestamp_format_is_accepted(line: str, expected_ms: int) -> None:
    [(reason, record_type, _, user_id, event_ms)] = _parse([line])
    assert reason is None
    assert (record_type, user_id, event_ms) == ("pageview", 7, expected_ms)


BAD_LINES = [
    ("not json", "not valid JSON"),
    ("", "empty line"),
    ("[1, 2]", "not a JSON object but an array"),
    ('"text"', "not a JSON object but a string"),
    ("42", "not a JSON object but a number"),
    ('{"type":"click"}', 'unknown type "click"'),
    ('{"session_id":"s"}', "missing or null field 'type'"),
    (
        '{"type":"pageview","user_id":7,"source":"Inbox","event_timestamp":1767225601000}',
        "missing or null field 'session_id'",
    ),
    (
        "{" + PV.replace('"user_id":7', '"user_id":"7"') + ',"event_timestamp":1767225601000}',
        "field 'user_id' must be an integer",
    ),
    (
        "{" + PV.replace('"user_id":7', '"user_id":7.5') + ',"event_timestamp":1767225601000}',
        "field 'user_id' must be an integer",
    ),
    (
        "{" + PV.replace('"user_id":7', '"user_id":-1') + ',"event_timestamp":1767225601000}',
        "field 'user_id' is -1, outside",
    ),
    (
        "{" + PV.replace('"Inbox"', '"Twitter"') + ',"event_timestamp":1767225601000}',
        "field 'source' is \"Twitter\", expected one of Homepage, Inbox, External",
    ),
    ("{" + PV + ',"event_timestamp":"yesterday"}', "cannot parse timestamp"),
    ("{" + PV + ',"event_timestamp":"2026-01-01"}', "cannot parse timestamp"),
    ("{" + PV + ',"event_timestamp":"2026-02-30 00:00:00"}', "cannot parse timestamp"),
    ("{" + PV + ',"event_timestamp":true}', "cannot parse timestamp"),
    ("{" + PV + ',"event_timestamp":"1999-12-31 23:59:59"}', "is before 2000-01-01"),
    ("{" + PV + ',"event_timestamp":"2099-01-01 00:00:00"}', "more than one day ahead"),
    (
        '{"type":"user","op":"merge","user_id":1,"updated_at":1767225601000}',
        "field 'op' is \"merge\"",
    ),
    ('{"type":"user","user_id":1,"updated_at":1767225601000}', "field 'op' must be one of"),
    (
        '{"type":"user","op":"upsert","user_id":1,"age":200,"updated_at":1767225601000}',
        "field 'age' is 200, outside [0, 150]",
    ),
    (
        '{"type":"user","op":"upsert","user_id":1,"subscription":"Free","updated_at":1767225601000}',
        "field 'subscription' is \"Free\"",
    ),
    (
        '{"type":"usersession","session_id":"s","user_id":1,"user_name":"a",'
        '"login_timestamp":1767225601000,"device":"Watch"}',
        "field 'device' is \"Watch\"",
    ),
    (
        '{"type":"usersession","session_id":"s","user_id":1,"user_name":5,'
        '"login_timestamp":1767225601000,"device":"Mobile"}',
        "field 'user_name' must be a string",
    ),
    (
        "{" + PV + ',"event_timestamp":1767225601000,"pad":"' + "x" * 70_000 + '"}',
        "over the 64 KiB limit",
    ),
]


@pytest.mark.parametrize(("line", "reason_part"), BAD_LINES)
def test_bad_input_gets_a_readable_reason(line: str, reason_part: str) -> None:
    [(reason, *_)] = _parse([line])
    assert reason is not None and reason_part in reason


def test_reason_decided_before_parsing_wins() -> None:
    [(reason, *_)] = _parse(["{}"], pre=["not valid UTF-8 at byte 3"])
    assert reason == "not valid UTF-8 at byte 3"


def test_users_nullable_fields_and_deletes() -> None:
    rows = _parse(
        [
            '{"type":"user","op":"upsert","user_id":1,"age":null,"gender":null,"country":"DE",'
            '"subscription":null,"updated_at":1767225601000}',
            '{"type":"user","op":"delete","user_id":1,"updated_at":"2026-01-01 00:00:02"}',
        ]
    )
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (None, "user", "upsert"),
        (None, "user", "delete"),
    ]


def test_string_escapes_are_decoded() -> None:
    con_rows = _parse(
        [
            '{"type":"pageview","session_id":"a\\"b\\u00e9","user_id":7,'
            '"source":"Inbox","event_timestamp":1767225601000}'
        ]
    )
    assert con_rows[0][0] is None


def test_only_a_records_own_event_time_counts() -> None:
    # A user record with a stray event_timestamp must not move the watermark by it.
    [(reason, record_type, _, _, event_ms)] = _parse(
        [
            '{"type":"user","op":"delete","user_id":1,"updated_at":"2026-01-01 00:00:01",'
            '"event_timestamp":4000000000000000000}'
        ]
    )
    assert (reason, record_type, event_ms) == (None, "user", 1_767_225_601_000)


def test_fast_validity_agrees_with_the_reasons_on_generated_input() -> None:
    """The quick valid/invalid test and the reasons come from the same checks: they agree."""
    from pageviews.sources.generator import GeneratorConfig, generate_lines

    lines = list(generate_lines(GeneratorConfig(seed=5, events=20_000, malformed_fraction=0.05)))
    rows = _parse(lines)
    reasons = [row[0] for row in rows]
    assert "(reason pending)" not in reasons and "invalid record" not in reasons
    # Every malformed kind the generator makes is caught, with a reason.
    assert sum(reason is not None for reason in reasons) >= 900


# Accepted by the precise checks only: the fast path must leave them to those.
ACCEPTED_EDGE_LINES = [
    '{"type":"pageview","session_id":"a\\"b","user_id":-0,"source":"Inbox",'
    '"event_timestamp":"2026-01-01T02:00:01+02:00"}',
    '{"type":"page\\u0076iew","session_id":"s","user_id":7,"source":"Inb\\u006fx",'
    '"event_timestamp":"2026-01-01 00:00:01+0000"}',
    '{"type":"pageview","op":5,"session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":1767225601000}',
    # A user's op on a page view or a session is a stray field (it once failed the batch).
    '{"type":"pageview","op":"upsert","session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":1767225601000}',
    '{"type":"usersession","session_id":"s","user_id":1,"user_name":"a","op":"delete",'
    '"login_timestamp":1767225601000,"device":"Mobile"}',
    '{"type":"usersession","session_id":"s","user_id":1,"user_name":"a\\u00e9",'
    '"login_timestamp":"2026-01-01T00:00:01.5Z","device":"Mobile"}',
    '{"type":"user","op":"delete","user_id":1,"updated_at":"2026-01-01 00:00:01+14"}',
    '{"type":"user","op":"delete","user_id":1,"updated_at":1767225601000,"age":5}',
    # Another type's field, out of its range: not this record's, so no reason and no failure.
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":1767225601000,"age":1767225601000}',
    '{"type":"pageview","session_id":"s","user_id":1234567890123456789,"source":"Inbox",'
    '"event_timestamp":1767225601000}',
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox","event_timestamp":'
    '"2026-01-01 00:00:01.1234567"}',
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox","extra":[1,{"a":true}],'
    '"event_timestamp":1767225601000}',
]
# Refused, each in a way that looks almost right.
REFUSED_EDGE_LINES = [
    '{"type":"pageview","session_id":"s","user_id":1e3,"source":"Inbox",'
    '"event_timestamp":1767225601000}',
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":1.767225601e12}',
    '{"type":"pageview","session_id":7,"user_id":7,"source":"Inbox","event_timestamp":1}',
    '{"type":"user","op":"upsert","user_id":1,"age":"7","updated_at":1767225601000}',
    '{"type":["pageview"],"session_id":"s","user_id":7,"source":"Inbox","event_timestamp":1}',
    '{"type":"pageview","session_id":"s","user_id":07,"source":"Inbox",'
    '"event_timestamp":1767225601000}',
    '{"type":"pageview","session_id":"s\tx","user_id":7,"source":"Inbox",'
    '"event_timestamp":1767225601000}',
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":1767225601000} x',
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":"2026-02-29 00:00:00"}',
    # DuckDB's JSON reader takes a trailing comma and NaN; strict JSON does not.
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":1767225601000,}',
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":1767225601000,"extra":NaN}',
    '{"type":"user","op":"delete","user_id":1,"updated_at":"2026-01-01 00:00:01+99:00"}',
    '{"type":"pageview","session_id":"s","user_id":7,"source":"Inbox",'
    '"event_timestamp":"2026-01-01 00:00:01 UTC"}',
]

# Timestamps, each a shape the scan reads itself or one it must leave to the precise checks.
TIMESTAMPS = [
    f"{date}{separator}{time}{fraction}{zone}"
    for date in ("2026-01-01", "2024-02-29", "2025-12-31", "2026-02-29", "2026-13-01")
    for separator in (" ", "T", "t", "_")
    for time in ("00:00:00", "23:59:59", "12:34:56", "24:00:00", "12:60:00", "12:00:60")
    # .1239 and .9995 round up (to the next second for .9995).
    for fraction in ("", ".5", ".123", ".1239", ".9995", ".123456", ".1234567", ".")
    for zone in ("", "Z", "z", "+02:00", "-05:30", "+14:00", "+14:30", "+15:00", "+02", "+0200")
    + (" UTC",)
]


def _all_columns_both_ways(lines: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every column of batch_parsed: through the scan first, and through the precise checks
    alone."""
    from pageviews.validation.precise import precise_select

    both = _parse(lines, columns=ALL_COLUMNS)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register(
        "lines_arrow",
        pa.table(
            {
                "seq": pa.array(range(len(lines)), pa.int64()),
                "line": pa.array(lines, pa.string()),
                "pre_reason": pa.array([None] * len(lines), pa.string()),
            }
        ),
    )
    query = f"SELECT {ALL_COLUMNS} FROM ({precise_select('lines_arrow')}) ORDER BY seq"  # noqa: S608
    precise = con.execute(query, {"received_ms": RECEIVED_MS}).fetchall()
    return both, precise


def test_fast_path_gives_the_precise_result() -> None:
    """Lines the fast path accepts get exactly the values the precise checks give; it leaves
    every other line to them, so whole batches come out the same either way."""
    from pageviews.sources.generator import GeneratorConfig, generate_lines

    edges = ACCEPTED_EDGE_LINES + REFUSED_EDGE_LINES
    lines = edges + list(
        generate_lines(GeneratorConfig(seed=9, events=5_000, malformed_fraction=0.2))
    )
    both, precise = _all_columns_both_ways(lines)
    assert both == precise
    reasons = [row[1] for row in both[: len(edges)]]
    assert reasons[: len(ACCEPTED_EDGE_LINES)] == [None] * len(ACCEPTED_EDGE_LINES)
    assert None not in reasons[len(ACCEPTED_EDGE_LINES) :]


def test_timestamps_read_by_the_scan_equal_the_precise_ones() -> None:
    lines = ["{" + PV + f',"event_timestamp":"{timestamp}"' + "}" for timestamp in TIMESTAMPS] + [
        '{"type":"user","op":"upsert","user_id":1,"age":null,"gender":"F","country":null,'
        f'"updated_at":"{timestamp}"' + "}"
        for timestamp in TIMESTAMPS[::7]
    ]
    both, precise = _all_columns_both_ways(lines)
    assert both == precise
    assert sum(row[1] is None for row in both) > len(TIMESTAMPS) // 12


def test_the_scan_takes_plain_lines_in_any_key_order_and_spacing() -> None:
    """The fast path is not only for the generator's exact layout."""
    from pageviews.validation.scan import scan

    lines = pa.array(
        [
            '{ "source" : "Inbox", "event_timestamp": 1767225601000 ,"user_id":7,'
            ' "type":"pageview","session_id":"é-1", "other": null}',
            '\t{"type":"user","op":"upsert","user_id":1,"updated_at":"2026-01-01T00:00:01.5Z"}\r',
            '{"type":"usersession","session_id":"","user_id":0,"user_name":"ü",'
            '"login_timestamp":"2026-01-01 00:00:01","device":"Tablet","op":null}',
        ],
        pa.string(),
    )
    scanned = scan(lines, np.zeros(len(lines), np.bool_), RECEIVED_MS)
    assert scanned.accepted.tolist() == [True, True, True]
    both, precise = _all_columns_both_ways(lines.to_pylist())
    assert both == precise


def _json_values() -> st.SearchStrategy[str]:
    """JSON values as text: the plain shapes the scan reads, and many it must leave alone."""
    texts = st.text(alphabet='abcé€"\\/\t x0', max_size=6)
    return st.one_of(
        st.sampled_from(
            ['"Inbox"', '"Mobile"', '"Gold"', '"pageview"', '"user"', '"upsert"', '"delete"']
        ),
        st.sampled_from(['"usersession"', '"Inb\\u006fx"', "null", "true", "[]", "{}", '""']),
        texts.map(json.dumps),
        texts.map(lambda text: '"' + text + '"'),  # not always valid JSON
        st.integers(-5, 2**64).map(str),
        st.sampled_from(["-0", "07", "1.0", "1e3", "-", "1767225601000", "12345678901234567890"]),
        st.sampled_from(TIMESTAMPS[::11]).map(lambda text: '"' + text + '"'),
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["type", "op", *OUTPUT_KEYS, "extra", "Type"]),
            _json_values(),
            st.sampled_from(["", " ", "\t"]),
        ),
        max_size=9,
    ),
    st.sampled_from(["", " ", "x", ","]),
)
def test_any_object_gets_the_precise_result(
    members: list[tuple[str, str, str]], trailer: str
) -> None:
    """Objects of the model's keys in any order, with values of any JSON type (and some that
    are not JSON): the scan's rows equal the precise checks' rows."""
    body = ",".join(f'{space}"{key}"{space}:{space}{value}' for key, value, space in members)
    lines = ["{" + body + "}" + trailer]
    if members and members[0][0] != "type":
        # The same object as a page view or a user: the types that have most fields.
        lines.append('{"type":"pageview",' + body + "}")
        lines.append('{"type":"user","op":"upsert",' + body + "}")
    both, precise = _all_columns_both_ways(lines)
    assert both == precise


@pytest.mark.parametrize("pad_char", ["x", "é", "€", "😀"])
@pytest.mark.parametrize("shift", [0, 1, 2, 3])
def test_an_oversize_dead_letter_keeps_64_kib_of_whole_characters(
    pad_char: str, shift: int
) -> None:
    """Whether a line comes in as text (the generator) or as bytes cut while read (a file),
    its dead letter keeps its longest beginning of whole characters within 65 536 bytes."""
    line = (
        "{" + PV + ',"event_timestamp":1767225601000,"pad":"' + "x" * shift
        + pad_char * 70_000 + '"}'
    )  # fmt: skip
    kept = dead_letter_raw(line)
    assert line.startswith(kept)
    assert len(kept.encode()) <= MAX_LINE_BYTES < len(kept.encode()) + len(pad_char.encode())
    read = next(read_line_chunks(io.BytesIO(b"\n".join([line.encode(), b"{}", b""]))))
    for lines in (pa.array([line, "{}"], pa.string()), read.lines):
        con = duckdb.connect()
        parse_batch(con, lines, None, 0, RECEIVED_MS)
        stored = con.execute(
            # As engine/processor.py writes dead_letters.raw.
            "SELECT left(l.line, $max), p.reason FROM batch_precise p "
            "JOIN batch_pending_lines l USING (seq) ORDER BY seq",
            {"max": MAX_LINE_BYTES},
        ).fetchall()
        assert stored[0] == (kept, "line is over the 64 KiB limit")
