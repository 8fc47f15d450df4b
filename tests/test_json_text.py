"""validation/json_text.py reads and writes JSON values as DuckDB does (reasons show them)."""

from __future__ import annotations

import json
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pageviews.model.records import MAX_JSON_DEPTH
from pageviews.validation import json_text

CON = duckdb.connect()


def _duckdb_texts(values: list[str]) -> list[str | None]:
    """Each JSON text as DuckDB writes it back, read the way the precise checks read fields."""
    lines = ['{"a":' + value + "}" for value in values]
    return [
        row[0]
        for row in CON.execute(
            'SELECT CAST(json_transform(line, \'{"a":"JSON"}\').a AS VARCHAR) '
            "FROM unnest($lines) WITH ORDINALITY AS t(line, n) ORDER BY n",
            {"lines": lines},
        ).fetchall()
    ]


def _python_text(value: str) -> str:
    return json_text.text(json_text.parse('{"a":' + value + "}")["a"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_floats_are_written_as_duckdb_writes_them(values: list[float]) -> None:
    texts = [repr(value) for value in values]
    assert [_python_text(text) for text in texts] == _duckdb_texts(texts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=12), min_size=1, max_size=20))
def test_strings_are_written_as_duckdb_writes_them(values: list[str]) -> None:
    # Lone surrogates are not valid JSON in DuckDB (the parse test below).
    texts = [json.dumps(value) for value in values if not _has_surrogate(value)]
    if texts:
        assert [_python_text(text) for text in texts] == _duckdb_texts(texts)


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(char) <= 0xDFFF for char in text)


@pytest.mark.parametrize(
    "value",
    [
        "-0",
        "18446744073709551616",
        "-9223372036854775809",
        "1e999",
        "-1E400",
        '[1, {"b": [true, null]}, "x"]',
        '{"k": 1, "k": 2}',  # a repeated key is written back twice
        '"\\u001f\\u007f\\u2028\\/"',
    ],
)
def test_other_values_are_written_as_duckdb_writes_them(value: str) -> None:
    assert _python_text(value) == _duckdb_texts([value])[0]


@pytest.mark.parametrize(
    ("line", "valid"),
    [
        ('{"a":"\\ud800"}', False),
        ('{"a":"\\ud83d\\ude00"}', True),
        ('{"a":NaN}', False),  # json_valid() takes it; the precise checks refuse it
        ('{"a":1} ', True),
        ('{"a":"x\ty"}', False),
    ],
)
def test_what_is_valid_json(line: str, valid: bool) -> None:
    try:
        json_text.parse(line)
    except json_text.NotJson:
        assert not valid
    else:
        assert valid


def test_a_repeated_key_reads_as_its_first_value() -> None:
    parsed: Any = json_text.parse('{"k": 1, "k": 2}')
    assert parsed["k"] == 1
    assert _duckdb_texts(['{"k": 1, "k": 2}']) == ['{"k":1,"k":2}']
    row = CON.execute(
        'SELECT CAST(json_transform(\'{"k": 1, "k": 2}\', \'{"k":"JSON"}\').k AS VARCHAR)'
    ).fetchone()
    assert row == ("1",)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)
_PIECES = list(' \t\n\r,:[]{}"\\0123456789.eE+-') + ["NaN", "true", "nul", "\\u00e9", "\x7f", "é"]


def _outcome(read: Any, line: str) -> tuple[str, str]:
    """What a reader makes of a line: the value written back, or that it is not JSON."""
    try:
        return ("value", json_text.text(read(line)))
    except ValueError:  # NotJson, or json's own error
        return ("not JSON", "")


@settings(max_examples=1_000, deadline=None)
@given(_JSON_VALUES, st.integers(0, 40), st.sampled_from(_PIECES), st.booleans())
def test_the_deep_reader_reads_what_the_c_decoder_reads(
    value: Any, at: int, piece: str, mutate: bool
) -> None:
    """The loop that reads lines nested too deep for the C decoder has the same grammar: on
    valid texts (with spaces between tokens) and on texts one piece away from valid."""
    line = json.dumps(value, indent=at % 3 or None, ensure_ascii=at % 2 == 0)
    if mutate:
        at = at % (len(line) + 1)
        line = line[:at] + piece + line[at:]
    assert _outcome(json_text._parse_deep, line) == _outcome(json_text._DECODER.decode, line)


def test_nesting_is_valid_json_up_to_the_model_limit() -> None:
    """1 000 levels (the line's own object is the first) are read, also where the C decoder
    runs out of recursion, and written back as DuckDB writes them; 1 001 are not JSON."""
    inner = MAX_JSON_DEPTH - 1
    for value in ("[" * inner + "1" + "]" * inner, '{"a":' * inner + "null" + "}" * inner):
        assert _python_text(value) == _duckdb_texts([value])[0]
    for depth in (MAX_JSON_DEPTH, 30_000):
        with pytest.raises(json_text.NotJson):
            json_text.parse('{"a":' + "[" * depth + "]" * depth + "}")
