"""Windowers: how a view assigns event times to windows. Pure and vectorized.

Each windower is a small frozen value (its sizes in ms); its methods are pure functions over
numpy arrays of event times. The engine calls them (engine/fixed_windows.py,
engine/sessions.py, engine/country_join.py), the oracle and the Flink job are rendered from
their sizes, and the property tests test them.

Windows are half-open [start, end), aligned to the epoch, in integer milliseconds.

    t:          |-------*-----------------|
    tumbling:   [0 ........ T)[T ........ 2T)      start = t - t % T
    hopping:    [s-2P ....... s-2P+H)               H/P windows, starts s, s-P, ..., s-(H/P-1)P
                    [s-P ........ s-P+H)            where s = t - t % P
                        [s ......... s+H)
    session:    [first ...... last + gap)           events at most `gap` apart share one
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

import numpy as np

from pageviews.engine.packing import I64, Bools, Packer, run_starts


@dataclass(frozen=True)
class Hopping:
    """Windows of `size_ms` starting every `step_ms`; each time lies in size/step of them."""

    size_ms: int
    step_ms: int

    def __post_init__(self) -> None:
        if self.size_ms <= 0 or self.step_ms <= 0 or self.size_ms % self.step_ms:
            raise ValueError(f"bad hopping windows: size {self.size_ms}, step {self.step_ms}")

    @property
    def windows_per_event(self) -> int:
        return self.size_ms // self.step_ms

    def latest_start(self, t_ms: I64) -> I64:
        """Start of the latest window that holds each time."""
        return t_ms - t_ms % self.step_ms

    def back_offsets(self) -> I64:
        """Window k of a time starts at latest_start - back_offsets[k]; k = 0 is the latest."""
        return np.arange(self.windows_per_event, dtype=np.int64) * self.step_ms

    def starts(self, t_ms: I64) -> I64:
        """Every window start of each time: shape (len(t), windows_per_event), latest first."""
        return self.latest_start(t_ms)[:, None] - self.back_offsets()[None, :]

    def missed(self, window_start_ms: I64, watermark_ms: I64) -> Bools:
        """Windows the watermark has closed (end <= W): a time arriving then is late for them."""
        return window_start_ms + self.size_ms <= watermark_ms


def tumbling(size_ms: int) -> Hopping:
    """Tumbling windows are hopping windows whose step is their size."""
    return Hopping(size_ms, size_ms)


@dataclass(frozen=True)
class Session:
    """Session windows: events of a key at most `gap_ms` apart share a session."""

    gap_ms: int

    def __post_init__(self) -> None:
        if self.gap_ms <= 0:
            raise ValueError(f"bad session gap: {self.gap_ms}")

    def missed(self, t_ms: I64, watermark_ms: I64) -> Bools:
        """An event at or behind W could only join a session that may already be final."""
        return t_ms <= watermark_ms

    def merge(self, key: I64, first_ms: I64, last_ms: I64) -> MergedSessions:
        """Merge items [first, last] of each key into sessions, in any order.

        Sorted by (key, first), an item opens a session when it is the first of its key or
        starts more than the gap after the furthest `last` so far: a gap of exactly gap_ms
        keeps the session. The result does not depend on the order of the items, which is
        what lets the engine merge each micro-batch's events into its open sessions as a set.
        """
        packer = Packer([[key], [first_ms], [last_ms]])
        order = np.argsort(packer.pack(key, first_ms, last_ms))
        k, first, last = key[order], first_ms[order], last_ms[order]
        # Furthest end so far within the key: packing (key, last) makes one running max do it.
        key_last = Packer([[k], [last]])
        furthest = key_last.unpack(np.maximum.accumulate(key_last.pack(k, last)))[1]
        opens = run_starts(k)
        opens[1:] |= first[1:] - furthest[:-1] > self.gap_ms
        starts = np.flatnonzero(opens)
        return MergedSessions(
            order=order,
            session_of=np.cumsum(opens) - 1,
            first_item=starts,
            key=k[starts],
            start_ms=first[starts],
            end_ms=np.maximum.reduceat(last, starts) + self.gap_ms,
        )


@dataclass(frozen=True)
class MergedSessions:
    """Sessions of merged items: `order` sorts the items, `session_of[i]` is the session of
    sorted item i; per session its first sorted item, key, start (first event) and end (last
    event + gap)."""

    order: I64
    session_of: I64
    first_item: I64
    key: I64
    start_ms: I64
    end_ms: I64


Windower: TypeAlias = Hopping | Session
