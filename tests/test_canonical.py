"""The canonical form (model/canonical.py): what our producer writes, and what the Flink job
accepts without the full checks, must be exactly what the full checks accept."""

from __future__ import annotations

import re
import time
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pageviews.model import canonical
from pageviews.model.records import (
    MAX_AHEAD_OF_WALL_CLOCK_MS,
    MAX_INT64,
    MAX_LINE_BYTES,
    MIN_EVENT_MS,
    MIN_INT64,
    PAGEVIEW,
    USERSESSION,
    Kind,
    RecordType,
)
from pageviews.sources.generator import GeneratorConfig, generate_lines
from pageviews.validation.record import InvalidRecord, timestamp_ms, validate_line

CANONICAL_TYPES = (PAGEVIEW, USERSESSION)


def _as_line(rtype: RecordType, value: str) -> str:
    """A topic's record as an input line: the topic says its type, a line says it in `type`."""
    assert value.startswith("{")
    return f'{{"type":"{rtype.name}",' + value[1:]


def _within_bounds(rtype: RecordType, match: re.Match[str], now_ms: int) -> bool:
    """The bounds that the Flink job checks after the pattern (validation/flink.py)."""
    for field in canonical.bounded_fields(rtype):
        value = int(match.group(rtype.fields.index(field) + 1))
        if field.kind is Kind.TIMESTAMP:
            low, high = MIN_EVENT_MS, now_ms + MAX_AHEAD_OF_WALL_CLOCK_MS
        else:
            low = MIN_INT64 if field.min_value is None else field.min_value
            high = MAX_INT64 if field.max_value is None else field.max_value
        if not low <= value <= high:
            return False
    return True


def _assert_same_values(rtype: RecordType, match: re.Match[str], record: dict[str, Any]) -> None:
    for index, field in enumerate(rtype.fields, start=1):
        text = match.group(index)
        if field.kind is Kind.STRING:
            assert record[field.name] == text
        elif field.kind is Kind.INTEGER:
            assert record[field.name] == int(text)
        else:
            assert timestamp_ms(record[field.name]) == int(text)


def test_every_generated_record_is_written_in_a_form_the_pattern_matches() -> None:
    written = 0
    for line in generate_lines(GeneratorConfig(seed=5, events=20_000)):
        try:
            rtype, record = validate_line(line)
        except InvalidRecord:
            continue
        if rtype not in CANONICAL_TYPES:
            continue
        event_ms = timestamp_ms(record[rtype.event_time])
        assert event_ms is not None
        value = canonical.canonical_record(record, rtype, event_ms).decode()
        match = re.fullmatch(canonical.pattern(rtype), value)
        assert match is not None, value
        assert _within_bounds(rtype, match, int(time.time() * 1000))
        again_type, again = validate_line(_as_line(rtype, value))
        assert again_type is rtype
        others = [f.name for f in rtype.fields if f.name != rtype.event_time]
        assert [again[name] for name in others] == [record[name] for name in others]
        _assert_same_values(rtype, match, again)
        written += 1
    assert written > 15_000


def _matching_text(rtype: RecordType) -> st.SearchStrategy[str]:
    return st.from_regex(canonical.pattern(rtype), fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(CANONICAL_TYPES).flatmap(lambda t: st.tuples(st.just(t), _matching_text(t))))
def test_text_of_the_pattern_is_accepted_by_the_full_checks_exactly_within_bounds(
    case: tuple[RecordType, str],
) -> None:
    rtype, text = case
    now_ms = int(time.time() * 1000)
    match = re.fullmatch(canonical.pattern(rtype), text)
    assert match is not None
    fast_path = _within_bounds(rtype, match, now_ms) and len(text) <= MAX_LINE_BYTES
    try:
        accepted_type, record = validate_line(_as_line(rtype, text), now_ms=now_ms)
    except InvalidRecord as refusal:
        assert not fast_path, f"the pattern takes {text!r}, the full checks refuse: {refusal}"
        return
    assert accepted_type is rtype
    assert fast_path, f"the full checks take {text!r}; the fast path must not refuse it"
    _assert_same_values(rtype, match, record)
    # The Flink job reads each value between its markers; that is the pattern's group.
    for index, field in enumerate(rtype.fields, start=1):
        before, after = canonical.value_markers(rtype, field)
        start = text.index(before) + len(before)
        assert text[start : text.index(after, start)] == match.group(index)


def test_escapes_and_other_shapes_are_not_canonical() -> None:
    pattern = re.compile(canonical.pattern(PAGEVIEW))
    base = {"session_id": "s", "user_id": 1, "source": "Inbox", "event_timestamp": MIN_EVENT_MS}
    assert pattern.fullmatch(orjson.dumps(base).decode())
    others = [
        orjson.dumps(base | {"session_id": 'a"b'}),  # an escape: the full checks decode it
        orjson.dumps(base | {"user_id": "1"}),
        orjson.dumps(base | {"event_timestamp": "2026-01-01 00:00:00"}),
        orjson.dumps({"type": "pageview", **base}),
        orjson.dumps(base).replace(b":", b": "),
        orjson.dumps(base).replace(b'"user_id":1', b'"user_id":01'),
    ]
    for value in others:
        assert pattern.fullmatch(value.decode()) is None, value
