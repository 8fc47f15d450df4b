"""Window assignment and session merging: cases drawn as timelines, and properties."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from pageviews.model.windows import hopping_starts_ms, merge_sessions, tumbling_start_ms

times = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000)
sizes = st.integers(min_value=1, max_value=3_600_000)


@given(t=times, size=sizes)
def test_each_event_lands_in_exactly_one_tumbling_window(t: int, size: int) -> None:
    start = tumbling_start_ms(t, size)
    assert start <= t < start + size
    assert start % size == 0


@given(t=times, step=st.integers(min_value=1, max_value=600_000), hops=st.integers(1, 12))
def test_each_event_lands_in_size_over_step_hopping_windows(t: int, step: int, hops: int) -> None:
    size = step * hops
    starts = hopping_starts_ms(t, size, step)
    assert len(starts) == len(set(starts)) == hops
    for start in starts:
        assert start <= t < start + size and start % step == 0
    # No other aligned window contains t.
    assert not (min(starts) - step <= t < min(starts) - step + size)
    assert not (max(starts) + step <= t)


def test_session_gap_of_exactly_gap_keeps_the_session() -> None:
    #   t:   0     10    20          40
    #        *-----*-----*           *
    #        gaps 10, 10 <= gap 10   gap 20 > 10: a new session
    assert merge_sessions([0, 10, 20, 40], gap_ms=10) == [(0, 20), (40, 40)]


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=60), st.integers(1, 500))
def test_sessions_do_not_depend_on_arrival_order(events: list[int], gap: int) -> None:
    shuffled = events[:]
    random.Random(len(events)).shuffle(shuffled)
    sessions = merge_sessions(shuffled, gap)
    assert sessions == merge_sessions(sorted(events), gap)
    # Every event is in exactly one session; sessions are separated by more than the gap.
    for t in events:
        assert sum(start <= t <= last for start, last in sessions) == 1
    for (_, last), (next_start, _) in zip(sessions, sessions[1:], strict=False):
        assert next_start - last > gap
