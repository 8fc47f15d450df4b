"""The open windows of one view, in memory: counts, ages, and the distinct users of each.

A window is identified by (key, ws); keys are int64 (a user id, or the code of a string key).
Rows are unique per (key, ws). Users are kept as distinct (key, ws, user) triples, so a
window's user count is exact however its page views arrived, and session merges only need to
move triples from the old start to the new one.

The engine commits this state with every batch (engine/state_store.py) and rebuilds it from
there on restart.
"""

from __future__ import annotations

import numpy as np

from pageviews.engine.packing import I64, Bools, Packer, empty, run_starts, unique_sorted


def _starts_of_runs(sorted_values: I64) -> I64:
    return np.flatnonzero(run_starts(sorted_values))


class OpenWindows:
    def __init__(self, count_users: bool) -> None:
        self.count_users = count_users
        self.key = empty()
        self.ws = empty()
        self.we = empty()
        self.pv_count = empty()
        self.age_sum = empty()
        self.age_n = empty()
        self.user_key = empty()
        self.user_ws = empty()
        self.user_id = empty()

    def __len__(self) -> int:
        return len(self.key)

    def add_views(
        self,
        key: I64,
        ws: I64,
        size: int,
        users: I64,
        ages: I64 | None = None,
        has_age: Bools | None = None,
        counts: I64 | None = None,
    ) -> None:
        """Count page views into fixed windows [ws, ws + size): one row each, or `counts` page
        views per row."""
        if not len(key):
            return
        packer = Packer([[self.key, key], [self.ws, ws]])
        packed = packer.pack(key, ws)
        if ages is None or has_age is None:
            if counts is None:
                ordered = np.sort(packed)
                starts = _starts_of_runs(ordered)
                window_counts = np.diff(np.append(starts, len(ordered)))
            else:
                order = np.argsort(packed)
                ordered = packed[order]
                starts = _starts_of_runs(ordered)
                window_counts = np.add.reduceat(counts[order], starts)
            age_sum = age_n = np.zeros(len(starts), np.int64)
        else:
            order = np.argsort(packed)
            ordered = packed[order]
            starts = _starts_of_runs(ordered)
            window_counts = np.diff(np.append(starts, len(ordered)))
            age_sum = np.add.reduceat(np.where(has_age, ages, 0)[order], starts)
            age_n = np.add.reduceat(has_age[order].astype(np.int64), starts)
        new_key, new_ws = packer.unpack(ordered[starts])
        self._merge(packer, new_key, new_ws, new_ws + size, window_counts, age_sum, age_n)
        if self.count_users:
            self.add_users(key, ws, users)

    def _merge(
        self, packer: Packer, key: I64, ws: I64, we: I64, count: I64, age_sum: I64, age_n: I64
    ) -> None:
        """Add aggregated rows, summing into existing windows."""
        packed = np.concatenate([packer.pack(self.key, self.ws), packer.pack(key, ws)])
        order = np.argsort(packed, kind="stable")
        starts = _starts_of_runs(packed[order])
        self.key = np.concatenate([self.key, key])[order][starts]
        self.ws = np.concatenate([self.ws, ws])[order][starts]
        self.we = np.concatenate([self.we, we])[order][starts]
        for name, values in (("pv_count", count), ("age_sum", age_sum), ("age_n", age_n)):
            merged = np.concatenate([getattr(self, name), values])[order]
            setattr(self, name, np.add.reduceat(merged, starts) if len(merged) else merged)

    def append(self, key: I64, ws: I64, we: I64, count: I64) -> None:
        """Add new windows that no existing row shares (merged sessions)."""
        self.key = np.concatenate([self.key, key])
        self.ws = np.concatenate([self.ws, ws])
        self.we = np.concatenate([self.we, we])
        self.pv_count = np.concatenate([self.pv_count, count])
        zeros = np.zeros(len(key), np.int64)
        self.age_sum = np.concatenate([self.age_sum, zeros])
        self.age_n = np.concatenate([self.age_n, zeros])

    def keep(self, mask: Bools) -> None:
        """Keep only the windows where mask is true (their users stay until drop_closed)."""
        for name in ("key", "ws", "we", "pv_count", "age_sum", "age_n"):
            setattr(self, name, getattr(self, name)[mask])

    def add_users(self, key: I64, ws: I64, users: I64) -> None:
        if not len(key):
            return
        packer = Packer(
            [[self.user_key, key], [self.user_ws, ws], [self.user_id, users]],
        )
        merged = unique_sorted(
            np.concatenate(
                [
                    packer.pack(self.user_key, self.user_ws, self.user_id),
                    packer.pack(key, ws, users),
                ]
            )
        )
        self.user_key, self.user_ws, self.user_id = packer.unpack(merged)

    def move_users(self, key: I64, old_ws: I64, new_ws: I64) -> None:
        """Users of windows (key, old_ws) now belong to (key, new_ws) (a session merge)."""
        if not len(key) or not len(self.user_key):
            return
        packer = Packer([[self.user_key, key], [self.user_ws, old_ws]])
        moved = packer.pack(key, old_ws)
        order = np.argsort(moved)
        moved = moved[order]
        pairs = packer.pack(self.user_key, self.user_ws)
        at = np.minimum(np.searchsorted(moved, pairs), len(moved) - 1)
        hit = moved[at] == pairs
        self.user_ws = np.where(hit, new_ws[order][at], self.user_ws)
        # A user of both merged sessions is now there twice.
        packer = Packer([[self.user_key], [self.user_ws], [self.user_id]])
        merged = unique_sorted(packer.pack(self.user_key, self.user_ws, self.user_id))
        self.user_key, self.user_ws, self.user_id = packer.unpack(merged)

    def user_counts(self) -> I64:
        """Distinct users of each window, aligned with the rows."""
        if not self.count_users or not len(self.key):
            return np.zeros(len(self.key), np.int64)
        packer = Packer([[self.key, self.user_key], [self.ws, self.user_ws]])
        pairs = np.sort(packer.pack(self.user_key, self.user_ws))
        starts = _starts_of_runs(pairs)
        counts = np.diff(np.append(starts, len(pairs)))
        windows = packer.pack(self.key, self.ws)
        at = np.minimum(np.searchsorted(pairs[starts], windows), max(len(starts) - 1, 0))
        return np.where(pairs[starts][at] == windows, counts[at], 0) if len(starts) else counts

    def drop_closed(self, watermark_ms: int) -> None:
        """Forget windows that the watermark has closed, and their users."""
        open_ = self.we > watermark_ms
        if open_.all():
            return
        self.keep(open_)
        if not self.count_users or not len(self.user_key):
            return
        packer = Packer([[self.key, self.user_key], [self.ws, self.user_ws]])
        windows = np.sort(packer.pack(self.key, self.ws))
        pairs = packer.pack(self.user_key, self.user_ws)
        if len(windows):
            at = np.minimum(np.searchsorted(windows, pairs), len(windows) - 1)
            still = windows[at] == pairs
        else:
            still = np.zeros(len(pairs), np.bool_)
        self.user_key = self.user_key[still]
        self.user_ws = self.user_ws[still]
        self.user_id = self.user_id[still]
