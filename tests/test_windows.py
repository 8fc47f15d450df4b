"""Windowers (model/windows.py), the code the engine runs: timelines and properties."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from pageviews.model.windows import Hopping, Session, tumbling

times = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)
sizes = st.integers(min_value=1, max_value=3_600_000)


def _ints(values: list[int]) -> np.ndarray:
    return np.array(values, np.int64)


@given(t=st.lists(times, min_size=1, max_size=50), size=sizes)
def test_each_event_lands_in_exactly_one_tumbling_window(t: list[int], size: int) -> None:
    windower = tumbling(size)
    starts = windower.starts(_ints(t))
    assert starts.shape == (len(t), 1)
    for start, time in zip(starts[:, 0], t, strict=True):
        assert start <= time < start + size
        assert start % size == 0


@given(
    t=st.lists(times, min_size=1, max_size=50),
    step=st.integers(min_value=1, max_value=600_000),
    hops=st.integers(1, 12),
)
def test_each_event_lands_in_size_over_step_hopping_windows(
    t: list[int], step: int, hops: int
) -> None:
    windower = Hopping(step * hops, step)
    all_starts = windower.starts(_ints(t))
    assert all_starts.shape == (len(t), hops)
    for starts, time in zip(all_starts.tolist(), t, strict=True):
        assert len(set(starts)) == hops
        assert starts == sorted(starts, reverse=True)  # latest first
        for start in starts:
            assert start <= time < start + windower.size_ms and start % step == 0
        # No other aligned window contains t.
        assert not (min(starts) - step + windower.size_ms > time)
        assert not (max(starts) + step <= time)


def test_a_window_is_missed_once_the_watermark_reaches_its_end() -> None:
    #   window [0, 300)     W = 299: still open     W = 300: closed, a record now is late
    windower = tumbling(300)
    assert windower.missed(_ints([0, 0]), _ints([299, 300])).tolist() == [False, True]
    # A session contribution is late when the event is at or behind W.
    assert Session(10).missed(_ints([100, 100]), _ints([99, 100])).tolist() == [False, True]


def _merge(times: list[int], gap: int, keys: list[int] | None = None) -> list[tuple[int, int, int]]:
    """(key, start, end) of each session, as the engine's windower merges them."""
    keys = keys if keys is not None else [0] * len(times)
    merged = Session(gap).merge(_ints(keys), _ints(times), _ints(times))
    columns = (merged.key.tolist(), merged.start_ms.tolist(), merged.end_ms.tolist())
    return sorted(zip(*columns, strict=True))


def test_session_gap_of_exactly_gap_keeps_the_session() -> None:
    #   t:   0     10    20          40
    #        *-----*-----*           *
    #        gaps 10, 10 <= gap 10   gap 20 > 10: a new session
    assert _merge([0, 10, 20, 40], gap=10) == [(0, 0, 30), (0, 40, 50)]


def test_an_open_session_bridges_events_on_both_sides() -> None:
    #   open session [10 ....... 40]      new events 0 and 45: one session [0, 45 + gap)
    merged = Session(10).merge(_ints([0, 0, 0]), _ints([10, 0, 45]), _ints([40, 0, 45]))
    assert list(zip(merged.start_ms.tolist(), merged.end_ms.tolist(), strict=True)) == [(0, 55)]
    assert merged.session_of.tolist() == [0, 0, 0]


def _reference_sessions(times: list[int], gap: int) -> list[tuple[int, int]]:
    """The rule in plain Python: sorted times, a new session after a gap over `gap`."""
    sessions: list[tuple[int, int]] = []
    for t in sorted(times):
        if sessions and t - sessions[-1][1] <= gap:
            sessions[-1] = (sessions[-1][0], t)
        else:
            sessions.append((t, t))
    return sessions


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10_000)), min_size=1, max_size=60),
    st.integers(1, 500),
)
def test_sessions_follow_the_rule_in_any_arrival_order(
    events: list[tuple[int, int]], gap: int
) -> None:
    shuffled = events[:]
    random.Random(len(events)).shuffle(shuffled)
    keys, times = [k for k, _ in shuffled], [t for _, t in shuffled]
    merged = _merge(times, gap, keys)
    expected = sorted(
        (key, start, last + gap)
        for key in set(keys)
        for start, last in _reference_sessions([t for k, t in events if k == key], gap)
    )
    assert merged == expected
    # Every event is in exactly one session of its key.
    for key, t in events:
        assert sum(k == key and start <= t < end for k, start, end in merged) == 1
