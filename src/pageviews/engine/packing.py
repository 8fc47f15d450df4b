"""Grouping over several int64 columns by packing each row into one int64.

numpy sorts one int64 array fast; np.lexsort over several columns and np.unique are many
times slower. So rows of (key, window start, user) and the like are packed into one int64 that
sorts in the same order as the rows themselves (lexicographic in column order):

    packed = ((c0 - min0) * span1 + (c1 - min1)) * span2 + (c2 - min2)

When the spans multiply past 2**62, the widest column is replaced by its rank among the
values it will ever be asked to pack (a sort), until the product fits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_LIMIT = 1 << 62


def empty() -> I64:
    return np.empty(0, np.int64)


def run_starts(sorted_values: I64) -> Bools:
    """True where a run of equal values starts in a sorted array."""
    starts = np.empty(len(sorted_values), np.bool_)
    starts[:1] = True
    np.not_equal(sorted_values[1:], sorted_values[:-1], out=starts[1:])
    return starts


def unique_sorted(values: I64) -> I64:
    """np.unique without its cost: sort, then keep the first of each run."""
    ordered = np.sort(values)
    return ordered[run_starts(ordered)]


class Packer:
    """Packs rows of int64 columns into one order-preserving int64, and back.

    Built from every value each column will be asked to pack (several arrays per column).
    """

    def __init__(self, columns: Sequence[Sequence[I64]]) -> None:
        values = [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in columns]
        self._low: list[int] = []
        self._ranks: list[I64 | None] = []
        spans: list[int] = []
        for column in values:
            low = int(column.min()) if len(column) else 0
            high = int(column.max()) if len(column) else 0
            self._low.append(low)
            self._ranks.append(None)
            spans.append(high - low + 1)
        while _product(spans) >= _LIMIT:
            widest = max(range(len(spans)), key=lambda i: spans[i])
            if self._ranks[widest] is not None:
                raise OverflowError("too many distinct values to pack")
            ranks = unique_sorted(values[widest])
            self._ranks[widest] = ranks
            self._low[widest] = 0
            spans[widest] = len(ranks)
        self._spans = spans

    def pack(self, *columns: I64) -> I64:
        packed = np.zeros(len(columns[0]), np.int64)
        for column, low, ranks, span in zip(
            columns, self._low, self._ranks, self._spans, strict=True
        ):
            digit = np.searchsorted(ranks, column) if ranks is not None else column - low
            packed *= span
            packed += digit
        return packed

    def unpack(self, packed: I64) -> list[I64]:
        columns: list[I64] = []
        rest = packed
        for low, ranks, span in zip(
            reversed(self._low), reversed(self._ranks), reversed(self._spans), strict=True
        ):
            rest, digit = np.divmod(rest, span)
            columns.append(ranks[digit] if ranks is not None else digit + low)
        return columns[::-1]


def _product(spans: list[int]) -> int:
    result = 1
    for span in spans:
        result *= max(span, 1)
    return result
