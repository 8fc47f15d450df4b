"""Page views by country: wait for the watermark, then join each view to its user as of t.

A page view at t waits until W >= t, so every user version with updated_at <= t that will
ever count has arrived; the join is then exact whatever the arrival order.

    seq:   5 pv(t=100)   6 user(updated 90)   7 pv(t=135)  -> W=105 >= 100: release at seq 7
    join:  versions of that user with seq <= 7 and updated <= 100 -> the one from seq 6
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pageviews.engine.batch_rows import Events, LateRows, ints
from pageviews.engine.key_codes import KeyCodes
from pageviews.engine.open_windows import OpenWindows
from pageviews.engine.packing import I64, Bools, Packer, empty
from pageviews.engine.watermark import BatchWatermarks
from pageviews.model.records import UNKNOWN_COUNTRY
from pageviews.model.results import ResultTable
from pageviews.model.windows import Hopping


@dataclass
class PendingViews:
    """Page views waiting for W to reach their time, in memory (committed as
    state_pending_country)."""

    seq: I64
    user: I64
    t: I64

    @classmethod
    def none(cls) -> PendingViews:
        return cls(empty(), empty(), empty())

    def add(self, seq: I64, user: I64, t: I64) -> None:
        self.seq = np.concatenate([self.seq, seq])
        self.user = np.concatenate([self.user, user])
        self.t = np.concatenate([self.t, t])

    def take_released(self, watermark_ms: int) -> PendingViews:
        """Remove and return the page views whose time W has reached."""
        released = self.t <= watermark_ms
        out = PendingViews(self.seq[released], self.user[released], self.t[released])
        kept = ~released
        self.seq, self.user, self.t = self.seq[kept], self.user[kept], self.t[kept]
        return out


@dataclass(frozen=True)
class Versions:
    """User versions that count (complete upserts and deletes)."""

    user: I64
    updated: I64
    seq: I64
    is_upsert: Bools
    age: I64
    has_age: Bools
    country: I64  # key code of the country; -1 for deletes

    @classmethod
    def from_arrow(cls, table: pa.Table, codes: KeyCodes) -> Versions:
        """From columns user_id, updated_ms, seq, op, age, country."""
        is_upsert = table["op"].to_numpy(zero_copy_only=False) == "upsert"
        age = table["age"]
        country = np.full(table.num_rows, -1, np.int64)
        if is_upsert.any():
            country[is_upsert] = codes.encode(table["country"].filter(pa.array(is_upsert)))
        return cls(
            user=ints(table["user_id"]),
            updated=ints(table["updated_ms"]),
            seq=ints(table["seq"]),
            is_upsert=is_upsert,
            age=ints(age.fill_null(0)),
            has_age=age.is_valid().to_numpy(zero_copy_only=False),
            country=country,
        )

    def where(self, mask: Bools) -> Versions:
        return Versions(
            self.user[mask],
            self.updated[mask],
            self.seq[mask],
            self.is_upsert[mask],
            self.age[mask],
            self.has_age[mask],
            self.country[mask],
        )

    @staticmethod
    def concat(first: Versions, second: Versions) -> Versions:
        return Versions(
            *(
                np.concatenate([getattr(first, name), getattr(second, name)])
                for name in ("user", "updated", "seq", "is_upsert", "age", "has_age", "country")
            )
        )


def admit_country_views(
    pv: Events, windower: Hopping, table: ResultTable, pending: PendingViews, late: LateRows
) -> None:
    """Late page views go to late_events; the others wait in `pending`."""
    ws = windower.latest_start(pv.t)
    missed = windower.missed(ws, pv.w_at)
    late.add(table, ws[missed], pv.seq[missed])
    kept = ~missed
    pending.add(pv.seq[kept], pv.user[kept], pv.t[kept])


def release_and_join(
    pending: PendingViews,
    steps: BatchWatermarks,
    old_versions: Versions,
    batch_versions: Versions,
    windower: Hopping,
    windows: OpenWindows,
    codes: KeyCodes,
) -> None:
    """Apply every waiting page view whose time the watermark has reached in this batch."""
    released = pending.take_released(int(steps.w[-1]))
    if not len(released.seq):
        return
    # Which versions may a view released at seq r see? Those with seq <= r. Every version from
    # an earlier batch qualifies, and so does every version of this batch that arrived on time
    # (updated_at > W at its arrival): had it come after r, W would already have been
    # >= t >= updated_at. Only this batch's late versions (rare) need the explicit seq check.
    w_at_version = steps.w[np.searchsorted(steps.seqs, batch_versions.seq)]
    on_time = batch_versions.updated > w_at_version
    visible = Versions.concat(old_versions, batch_versions.where(on_time))
    match = _latest_as_of(visible, released.user, released.t)
    late_versions = batch_versions.where(~on_time)
    candidates = Versions.concat(visible, late_versions)
    if len(late_versions.seq):
        # The first seq at which W reached t (W only grows), and never before the view arrived.
        release_seq = np.maximum(released.seq, steps.first_seq_reaching(released.t))
        match = _apply_late_versions(
            candidates, len(visible.seq), match, released.user, released.t, release_seq
        )
    unknown = codes.code(UNKNOWN_COUNTRY)
    if len(candidates.seq):
        at = np.maximum(match, 0)
        upsert = (match >= 0) & candidates.is_upsert[at]
        country = np.where(upsert, candidates.country[at], unknown)
        ages, has_age = candidates.age[at], upsert & candidates.has_age[at]
    else:
        country = np.full(len(released.seq), unknown, np.int64)
        ages, has_age = np.zeros(len(released.seq), np.int64), np.zeros(len(country), np.bool_)
    ws = windower.latest_start(released.t)
    windows.add_views(country, ws, windower.size_ms, released.user, ages, has_age)


def _latest_as_of(versions: Versions, users: I64, times: I64) -> I64:
    """Per (user, t): the index of the version with the greatest (updated, seq) such that
    updated <= t; -1 when there is none. Ties in updated_at go to the later arrival."""
    if not len(versions.seq):
        return np.full(len(users), -1, np.int64)
    last_seq = np.array([versions.seq.max()], np.int64)
    packer = Packer(
        [[versions.user, users], [versions.updated, times], [versions.seq, last_seq]],
    )
    packed = packer.pack(versions.user, versions.updated, versions.seq)
    order = np.argsort(packed)
    query = packer.pack(users, times, np.full(len(users), last_seq[0], np.int64))
    at = np.searchsorted(packed[order], query, side="right") - 1
    found = order[np.maximum(at, 0)]
    return np.where((at >= 0) & (versions.user[found] == users), found, -1)


def _apply_late_versions(
    candidates: Versions, first_late: int, match: I64, users: I64, times: I64, release_seq: I64
) -> I64:
    """Let this batch's late versions win where they arrived by the release and are newer."""
    by_user = np.argsort(users, kind="stable")
    sorted_users = users[by_user]
    match = match.copy()
    for index in range(first_late, len(candidates.seq)):
        user = candidates.user[index]
        lo = np.searchsorted(sorted_users, user, side="left")
        rows = by_user[lo : np.searchsorted(sorted_users, user, side="right")]
        if not len(rows):
            continue
        updated, seq = candidates.updated[index], candidates.seq[index]
        current = match[rows]
        has = current >= 0
        at = np.where(has, current, 0)
        newer = ~has | (
            (updated > candidates.updated[at])
            | ((updated == candidates.updated[at]) & (seq > candidates.seq[at]))
        )
        wins = (seq <= release_seq[rows]) & (updated <= times[rows]) & newer
        match[rows[wins]] = index
    return match
