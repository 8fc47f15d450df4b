"""The Flink SQL as rendered from the window settings (no cluster: the text only)."""

from __future__ import annotations

import re
from pathlib import Path

from pageviews.config import WindowConfig
from pageviews.model import reasons
from pageviews.model.records import MAX_OFFSET_MINUTES, PAGEVIEW, TIMESTAMP_PATTERN
from pageviews.stack.config import StackConfig
from pageviews.stack.flink_sql import statements
from pageviews.validation import flink

DAY_TO_SECOND = re.compile(r"INTERVAL '(\d+) (\d\d):(\d\d):(\d\d)\.(\d{3})' DAY TO SECOND\(3\)")


def _intervals_ms(sql: str) -> list[int]:
    return [
        ((int(d) * 24 + int(h)) * 60 + int(m)) * 60_000 + int(s) * 1000 + int(ms)
        for d, h, m, s, ms in DAY_TO_SECOND.findall(sql)
    ]


def test_default_windows_render_as_day_to_second_intervals(tmp_path: Path) -> None:
    # Five minutes as `INTERVAL '300.000' SECOND` is refused by Flink's parser (SECOND(2)).
    sql = "\n".join(statements(StackConfig.from_env(tmp_path), WindowConfig(), bounded=True))
    assert not re.search(r"INTERVAL '[\d.]+' SECOND", sql)
    assert set(_intervals_ms(sql)) == {30_000, 60_000, 300_000}


def test_odd_sizes_keep_their_milliseconds(tmp_path: Path) -> None:
    windows = WindowConfig(
        lateness_ms=1_500,
        tumbling_ms=90_061_001,  # 1 day 01:01:01.001
        hopping_size_ms=10_000,
        hopping_step_ms=2_500,
        session_gap_ms=3_250,
        user_session_gap_ms=3_000,
        country_ms=7_000,
    )
    sql = "\n".join(statements(StackConfig.from_env(tmp_path), windows, bounded=False))
    assert {1_500, 90_061_001, 10_000, 2_500, 3_250, 3_000, 7_000} <= set(_intervals_ms(sql))


def test_page_view_checks_are_the_models_rules() -> None:
    """Every rule of a page view's fields, in model order, each with the embedded runtime's
    reason text (model/reasons.py), after the line rules."""
    reason = flink.record_reason(PAGEVIEW)
    texts = [
        reasons.LINE_TOO_LONG.before,
        reasons.EMPTY_LINE.before,
        reasons.NOT_AN_OBJECT.before,
        *(rule.reason.before for field in PAGEVIEW.fields for rule in reasons.field_rules(field)),
    ]
    at = -1
    for text in texts:
        at = reason.find("'" + text.replace("'", "''") + "'", at + 1)
        assert at >= 0, text
    for field in PAGEVIEW.fields:
        for rule in reasons.field_rules(field):
            if rule.reason.after:
                assert "'" + rule.reason.after.replace("'", "''") + "'" in reason, rule


def test_flink_reads_timestamps_by_the_models_grammar() -> None:
    # The model's grammar, but ending at the end of the text: Java's `$` also matches before a
    # final line terminator.
    assert TIMESTAMP_PATTERN.endswith("$")
    assert flink.TS_PATTERN == TIMESTAMP_PATTERN.removesuffix("$") + "\\z"
    for text in ("2024-05-01 10:00:00", "2024-05-01T12:00:00.5+0200", "2024-05-01T12:00:00+02"):
        assert re.fullmatch(TIMESTAMP_PATTERN, text)
    assert f"<= {MAX_OFFSET_MINUTES}" in flink.timestamp_ms("j_x")
