"""Every validator runs every golden line of tests/conformance/records.json.

- the compiled scan: a line it accepts must be accepted there, with the same values; it may
  leave any line to the precise checks;
- the precise DuckDB checks, alone and behind the scan (engine/parse.py, as the engine runs
  them);
- the per-record validator of the stack's producer (validation/record.py).

So the batch and per-record validators give the same verdict and the same reason on each line.
The Flink SQL checks (validation/flink.py) are rendered from the same rules; they run only on
the stack (tests/test_flink.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pageviews.engine.parse import parse_batch
from pageviews.model import reasons
from pageviews.model.records import RECORD_TYPES, Kind, RecordType
from pageviews.validation.precise import OUTPUT_COLUMNS, precise_select
from pageviews.validation.record import InvalidRecord, timestamp_ms, validate_line
from pageviews.validation.scan import scan
from pageviews.validation.scanned_rows import accepted_rows

TABLE = json.loads((Path(__file__).parent / "conformance" / "records.json").read_text())
RECEIVED_MS: int = TABLE["received_ms"]


@dataclass(frozen=True)
class Case:
    id: str
    line: str
    accepted: dict[str, Any] | None
    refused: str | None


def _line(case: dict[str, Any]) -> str:
    if "record" in case:
        record = dict(case["record"])
        if "pad_to_bytes" in case:
            record["pad"] = ""
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    else:
        line = case["line"]
    if "pad_to_bytes" in case:
        char = case.get("pad_char", "x")
        missing = case["pad_to_bytes"] - len(line.encode())
        assert missing % len(char.encode()) == 0, case
        padding = char * (missing // len(char.encode()))
        line = line[:-2] + padding + line[-2:] if "record" in case else line + padding
        assert len(line.encode()) == case["pad_to_bytes"]
    return line


def _cases() -> list[Case]:
    cases = []
    for section, entries in TABLE["sections"].items():
        for number, entry in enumerate(entries, 1):
            assert ("accepted" in entry) != ("refused" in entry), entry
            cases.append(
                Case(
                    f"{section} {number}", _line(entry), entry.get("accepted"), entry.get("refused")
                )
            )
    return cases


CASES = _cases()
LINES = [case.line for case in CASES]


def _rtype(accepted: dict[str, Any]) -> RecordType:
    return next(
        rtype
        for rtype in RECORD_TYPES
        if (rtype.name, rtype.op) == (accepted["record_type"], accepted["op"])
    )


def _expected_row(accepted: dict[str, Any]) -> dict[str, Any]:
    """The accepted values, with event_time_ms: the record type's own event-time column."""
    rtype = _rtype(accepted)
    event_time = next(field for field in rtype.fields if field.name == rtype.event_time)
    return accepted | {"event_time_ms": accepted[event_time.column_name]}


def _own(row: dict[str, Any], accepted: dict[str, Any]) -> dict[str, Any]:
    """A row's record type, op, and the columns of its own record type (another type's stray
    field is not part of the record)."""
    return {key: row[key] for key in _expected_row(accepted)}


def test_the_table_is_complete_and_well_formed() -> None:
    assert datetime.fromtimestamp(RECEIVED_MS / 1000, UTC).isoformat() == TABLE[
        "received_at"
    ].replace("Z", "+00:00")
    for case in CASES:
        if case.accepted is not None:
            rtype = _rtype(case.accepted)
            columns = {"record_type", "op"} | {field.column_name for field in rtype.fields}
            assert set(case.accepted) == columns, case.id
    # Every rule of the model is exercised, each by a refusal with its reason.
    refusals = [case.refused for case in CASES if case.refused is not None]
    rules = [
        (rule.check.value, rule.reason)
        for rtype in RECORD_TYPES
        for field in rtype.fields
        for rule in reasons.field_rules(field)
    ]
    line_rules = [
        reasons.LINE_TOO_LONG,
        reasons.EMPTY_LINE,
        reasons.NOT_JSON,
        reasons.NOT_AN_OBJECT,
        reasons.TYPE_MISSING,
        reasons.UNKNOWN_TYPE,
        reasons.OP_MISSING,
        reasons.OP_UNKNOWN,
    ]
    for reason in line_rules + [reason for _, reason in rules]:
        assert any(_fits(reason, refused) for refused in refusals), reason
    assert len({case.line for case in CASES}) == len(CASES), "a line is in the table twice"


def _fits(reason: reasons.Reason, text: str) -> bool:
    if reason.after is None:
        return text == reason.before
    return text.startswith(reason.before) and text.endswith(reason.after)


def _batch_rows(con: duckdb.DuckDBPyConnection, relation: str) -> list[dict[str, Any]]:
    result = con.sql(f"SELECT * FROM {relation} ORDER BY seq")  # noqa: S608 - test constants
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def _check_rows(rows: list[dict[str, Any]]) -> None:
    assert [row["seq"] for row in rows] == list(range(len(CASES)))
    for case, row in zip(CASES, rows, strict=True):
        if case.refused is not None:
            assert row["reason"] == case.refused, case.id
        else:
            assert case.accepted is not None
            assert row["reason"] is None, (case.id, row["reason"])
            assert _own(row, case.accepted) == _expected_row(case.accepted), case.id


def _connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def test_precise_checks_alone() -> None:
    con = _connect()
    con.register(
        "lines_arrow",
        pa.table(
            {
                "seq": pa.array(range(len(LINES)), pa.int64()),
                "line": pa.array(LINES, pa.string()),
                "pre_reason": pa.nulls(len(LINES), pa.string()),
            }
        ),
    )
    con.execute(
        f"CREATE TABLE rows AS {precise_select('lines_arrow')}",  # noqa: S608 - test constants
        {"received_ms": RECEIVED_MS},
    )
    _check_rows(_batch_rows(con, "rows"))


def test_the_engines_parse_batch() -> None:
    """The scan first, then the precise checks for what it leaves (engine/parse.py)."""
    con = _connect()
    parsed = parse_batch(con, pa.array(LINES, pa.string()), None, 0, RECEIVED_MS)
    con.register("valid_arrow", parsed.valid)
    relation = "(SELECT NULL::VARCHAR AS reason, * FROM valid_arrow"
    if parsed.dead:
        relation += " UNION ALL BY NAME SELECT * FROM batch_precise WHERE reason IS NOT NULL"
    _check_rows(_batch_rows(con, relation + ")"))


def test_the_compiled_scan() -> None:
    lines = pa.array(LINES, pa.string())
    scanned = scan(lines, np.zeros(len(lines), np.bool_), RECEIVED_MS)
    rows = accepted_rows(scanned, 0).to_pylist()
    assert rows, "the scan accepts no golden line at all"
    for row in rows:
        case = CASES[row["seq"]]
        assert case.accepted is not None, f"the scan accepts a refused line: {case.id}"
        assert _own(row, case.accepted) == _expected_row(case.accepted), case.id
    # Plain lines are its to take: it must not leave them all to the precise checks.
    assert len(rows) >= len([case for case in CASES if case.accepted]) // 2


def _record_values(rtype: RecordType, record: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {"record_type": rtype.name, "op": rtype.op}
    for field in rtype.fields:
        value = record.get(field.name)
        if field.kind is Kind.TIMESTAMP:
            value = timestamp_ms(value)
        values[field.column_name] = value
    return values


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_the_per_record_validator(case: Case) -> None:
    try:
        rtype, record = validate_line(case.line, RECEIVED_MS)
    except InvalidRecord as error:
        assert str(error) == case.refused
        return
    assert case.accepted is not None, f"accepted, expected {case.refused!r}"
    assert _record_values(rtype, record) == case.accepted


def test_output_columns_are_the_models() -> None:
    # The golden values name raw-table columns; those are the precise rows' columns.
    assert set(OUTPUT_COLUMNS) == {
        field.column_name for rtype in RECORD_TYPES for field in rtype.fields
    }
