"""Window assignment: pure functions, the arithmetic the engine applies to whole arrays.

Windows are half-open [start, end), aligned to the epoch, in integer milliseconds.

    t:          |-------*-----------------|
    tumbling:   [0 ........ T)[T ........ 2T)      start = t - t % T
    hopping:    [s-2P ....... s-2P+H)               H/P windows, starts s, s-P, ..., s-(H/P-1)P
                    [s-P ........ s-P+H)            where s = t - t % P
                        [s ......... s+H)
"""

from __future__ import annotations


def tumbling_start_ms(t_ms: int, size_ms: int) -> int:
    return t_ms - t_ms % size_ms


def hopping_starts_ms(t_ms: int, size_ms: int, step_ms: int) -> list[int]:
    """Starts of every hopping window that contains t, latest first."""
    latest = t_ms - t_ms % step_ms
    return [latest - k * step_ms for k in range(size_ms // step_ms)]


def merge_sessions(times_ms: list[int], gap_ms: int) -> list[tuple[int, int]]:
    """Sessions over event times as (start, last event); a gap of exactly gap_ms keeps a session.

    The session window is [start, last + gap_ms). The result does not depend on the order of
    `times_ms`, which is what lets the engine merge each micro-batch as a set.
    """
    sessions: list[tuple[int, int]] = []
    for t in sorted(times_ms):
        if sessions and t - sessions[-1][1] <= gap_ms:
            sessions[-1] = (sessions[-1][0], t)
        else:
            sessions.append((t, t))
    return sessions
