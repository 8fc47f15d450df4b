"""Split a block of bytes into lines, in one compiled pass (numba): the text without newlines,
the offsets of each line in it, and which lines hold a carriage return.

numpy would need several passes over the block (find newlines, copy around them, look for CRs),
and reading was a tenth of the pipeline's time.
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt


def split_lines(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, npt.NDArray[np.bool_]]:
    """(offsets as int32, text, has_cr) of the lines of data, split at each newline: a block
    ending without a newline has a last line that runs to its end."""
    lines = int(np.count_nonzero(data == ord("\n"))) + 1
    offsets = np.empty(lines + 1, np.int32)
    text = np.empty(len(data) - (lines - 1), np.uint8)
    has_cr = np.zeros(lines, np.bool_)
    _split(data, offsets, text, has_cr)
    return offsets, text, has_cr


def warm_up_split() -> None:
    """Compile the split, or load it from numba's cache."""
    split_lines(np.frombuffer(b"{}\n{}", np.uint8))


@numba.njit(cache=True, nogil=True)
def _split(data: np.ndarray, offsets: np.ndarray, text: np.ndarray, has_cr: np.ndarray) -> None:
    line = 0
    written = 0
    offsets[0] = 0
    for byte in data:
        if byte == 10:
            line += 1
            offsets[line] = written
            continue
        if byte == 13:
            has_cr[line] = True
        text[written] = byte
        written += 1
    offsets[line + 1] = written
