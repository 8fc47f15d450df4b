"""Int64 codes for string window keys (sources, countries), so windows group with numpy.

Codes live only in memory, for the engine's lifetime; committed state holds the strings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pageviews.engine.packing import I64


class KeyCodes:
    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self._names: list[str] = []

    def code(self, name: str) -> int:
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self._names)
            self._names.append(name)
        return code

    def encode(self, names: pa.Array | pa.ChunkedArray) -> I64:
        """Codes of a string array without nulls."""
        if not len(names):
            # Combining no chunks costs a quarter of a second the first time (pyarrow set-up).
            return np.zeros(0, np.int64)
        encoded = pc.dictionary_encode(names)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = np.array([self.code(name) for name in encoded.dictionary.to_pylist()], np.int64)
        indices = encoded.indices.to_numpy(zero_copy_only=False)
        return codes[indices] if len(codes) else np.zeros(len(indices), np.int64)

    def decode(self, codes: I64) -> pa.Array:
        names = np.array(self._names, dtype=object)
        return pa.array(names[codes] if len(codes) else [], pa.string())
