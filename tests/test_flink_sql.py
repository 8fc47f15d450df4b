"""The Flink SQL as rendered from the window settings (no cluster: the text only)."""

from __future__ import annotations

import re
from pathlib import Path

from pageviews.config import WindowConfig
from pageviews.stack.config import StackConfig
from pageviews.stack.flink_sql import statements

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
