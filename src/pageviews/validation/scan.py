"""The fast path of validation: a compiled scan (numba) over the bytes of a batch of lines.

It accepts a line only when every check passes in its plainest form, and leaves every other line
pending; the SQL checks (validation/precise.py) then decide those and give each bad one its reason.
So the scan may be strict, never lenient: a line it accepts must be one the SQL checks accept,
with the same values. tests/test_validate.py holds the two to that.

A line is accepted here when:
- it is one JSON object; no key or string has a backslash or a control character; values are
  strings, integers (`-?(0|[1-9][0-9]*)`, at most 18 digits) or null, nothing else;
- each key of the model appears at most once (other keys are skipped), and the keys of the
  model it has belong to its own record type;
- every field passes its check; a timestamp is integer ms, or "YYYY-MM-DD HH:MM:SS" (space or
  T) with at most six fraction digits and no zone, Z or +HH:MM / -HH:MM (up to the model's
  MAX_OFFSET_MINUTES).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numba
import numpy as np
import pyarrow as pa

from pageviews.engine.packing import I64, Bools
from pageviews.model import calendar
from pageviews.model.records import (
    MAX_AHEAD_OF_WALL_CLOCK_MS,
    MAX_LINE_BYTES,
    MAX_OFFSET_MINUTES,
    MIN_EVENT_MS,
    RECORD_TYPES,
    TIMESTAMP_SEPARATORS,
    TYPE_NAMES,
    USER_OPS,
    UTC_DESIGNATOR,
    Field,
    Kind,
)

# Every key the model reads: "type", "op", then each field once, in model order.
_FIELDS: dict[str, Field] = {field.name: field for rtype in RECORD_TYPES for field in rtype.fields}
KEYS: tuple[str, ...] = ("type", "op", *_FIELDS)
_TYPE, _OP = 0, 1
_CHOICES: dict[str, tuple[str, ...]] = {
    "type": TYPE_NAMES,
    "op": USER_OPS,
    **{name: field.choices for name, field in _FIELDS.items() if field.choices},
}

# What a scanned value was (per key and line).
_ABSENT, _NULL, _STRING, _INTEGER = 0, 1, 2, 3
# Kinds, as codes for the compiled code.
_KIND_CODE = {Kind.STRING: 0, Kind.INTEGER: 1, Kind.TIMESTAMP: 2}
# A key's role in a record type.
_NOT_ITS_OWN, _REQUIRED, _NULLABLE = 0, 1, 2


def _padded(words: list[str]) -> tuple[np.ndarray, I64]:
    """Byte strings as rows of a 2-D uint8 array, with their lengths."""
    encoded = [word.encode() for word in words]
    table = np.zeros((len(encoded), max((len(word) for word in encoded), default=1)), np.uint8)
    for row, word in enumerate(encoded):
        table[row, : len(word)] = np.frombuffer(word, np.uint8)
    return table, np.array([len(word) for word in encoded], np.int64)


@dataclass(frozen=True)
class _Tables:
    """The record model as arrays, for the compiled scan."""

    key_bytes: np.ndarray
    key_len: I64
    kind: I64  # per key
    choice_bytes: np.ndarray  # [key, choice, byte]
    choice_len: I64  # [key, choice]; 0 for no such choice
    min_value: I64
    max_value: I64
    rtype_type: I64  # per record type: index of its "type" in TYPE_NAMES
    rtype_op: I64  # per record type: index of its "op" in USER_OPS, or -1
    role: I64  # [record type, key]
    event_time_key: I64  # per record type


def _tables() -> _Tables:
    key_bytes, key_len = _padded(list(KEYS))
    most = max(len(choices) for choices in _CHOICES.values())
    longest = max(len(choice.encode()) for choices in _CHOICES.values() for choice in choices)
    choice_bytes = np.zeros((len(KEYS), most, longest), np.uint8)
    choice_len = np.zeros((len(KEYS), most), np.int64)
    for key, choices in _CHOICES.items():
        table, lengths = _padded(list(choices))
        k = KEYS.index(key)
        choice_bytes[k, : len(choices), : table.shape[1]] = table
        choice_len[k, : len(choices)] = lengths
    kind = np.array(
        [_KIND_CODE[_FIELDS[key].kind] if key in _FIELDS else 0 for key in KEYS], np.int64
    )
    low = np.iinfo(np.int64).min
    high = np.iinfo(np.int64).max
    min_value = np.array([_bound(key, "min_value", low) for key in KEYS], np.int64)
    max_value = np.array([_bound(key, "max_value", high) for key in KEYS], np.int64)
    role = np.zeros((len(RECORD_TYPES), len(KEYS)), np.int64)
    for r, rtype in enumerate(RECORD_TYPES):
        for field in rtype.fields:
            role[r, KEYS.index(field.name)] = _NULLABLE if field.nullable else _REQUIRED
    return _Tables(
        key_bytes=key_bytes,
        key_len=key_len,
        kind=kind,
        choice_bytes=choice_bytes,
        choice_len=choice_len,
        min_value=min_value,
        max_value=max_value,
        rtype_type=np.array([TYPE_NAMES.index(rtype.name) for rtype in RECORD_TYPES], np.int64),
        rtype_op=np.array(
            [-1 if rtype.op is None else USER_OPS.index(rtype.op) for rtype in RECORD_TYPES],
            np.int64,
        ),
        role=role,
        event_time_key=np.array([KEYS.index(rtype.event_time) for rtype in RECORD_TYPES], np.int64),
    )


def _bound(key: str, name: str, default: int) -> int:
    value = getattr(_FIELDS[key], name) if key in _FIELDS else None
    return default if value is None else int(value)


TABLES = _tables()

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Scanned:
    """The lines a scan accepted, as columns with one entry per accepted line, in line order.

    For key k and accepted line j: present[k, j] tells whether the value is there (not null);
    value[k, j] is the integer, the epoch ms of a timestamp, or the index of an enum choice. A
    plain string of key k is text[slot, offsets[slot, j]:offsets[slot, j + 1]], its slot being
    STRING_SLOTS[k].
    """

    accepted: Bools  # per line of the batch
    line: I64  # which line each accepted row is
    record_type: I64  # index into RECORD_TYPES
    event_time_ms: I64
    present: Bools
    value: I64
    offsets: I64
    text: np.ndarray


# Keys with plain string values (not enums) each have a slot for their text.
_PLAIN_STRING_KEYS = [
    key
    for key in KEYS
    if key in _FIELDS and _FIELDS[key].kind is Kind.STRING and not _FIELDS[key].choices
]
STRING_SLOTS = np.array(
    [_PLAIN_STRING_KEYS.index(key) if key in _PLAIN_STRING_KEYS else -1 for key in KEYS], np.int64
)


def scan(lines: pa.StringArray, skip: Bools, received_ms: int) -> Scanned:
    """Scan every line that `skip` does not rule out."""
    n = len(lines)
    offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset : lines.offset + n + 1]
    data_buffer = lines.buffers()[2]
    data = (
        np.frombuffer(data_buffer, np.uint8) if data_buffer is not None else np.empty(0, np.uint8)
    )
    keys = len(KEYS)
    accepted = np.zeros(n, np.bool_)
    line = np.empty(n, np.int64)
    record_type = np.empty(n, np.int64)
    event_time_ms = np.empty(n, np.int64)
    # Zeroed lazily by the system: a key's column is only written where the key is there.
    present = np.zeros((keys, n), np.bool_)
    value = np.zeros((keys, n), np.int64)
    slots = len(_PLAIN_STRING_KEYS)
    text_offsets = np.zeros((slots, n + 1), np.int64)
    # Room for every byte of the batch in each slot: pages never written are never allocated.
    text = np.empty((slots, len(data)), np.uint8)
    t = TABLES
    rows = _scan_lines(
        data, offsets.astype(np.int64), skip, received_ms + MAX_AHEAD_OF_WALL_CLOCK_MS,
        t.key_bytes, t.key_len, t.kind, t.choice_bytes, t.choice_len, t.min_value, t.max_value,
        t.rtype_type, t.rtype_op, t.role, t.event_time_key, STRING_SLOTS,
        accepted, line, record_type, event_time_ms, present, value, text_offsets, text,
    )  # fmt: skip
    return Scanned(
        accepted=accepted,
        line=line[:rows],
        record_type=record_type[:rows],
        event_time_ms=event_time_ms[:rows],
        present=present[:, :rows],
        value=value[:, :rows],
        offsets=text_offsets[:, : rows + 1],
        text=text,
    )


def warm_up_scan() -> None:
    """Compile the scan, or load it from numba's cache, by scanning one line."""
    scan(pa.array(['{"type":"pageview"}'], pa.string()), np.zeros(1, np.bool_), 0)


# The compiled code below reads bytes one at a time: it is plain loops on purpose.

# Helpers allocate nothing, so they run without numba's reference counting: otherwise each
# call would count references to its array arguments with atomic operations, which took a
# third of the scan's time.
_helper: Callable[[F], F] = numba.njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]

_MAX_LINE_BYTES = MAX_LINE_BYTES
_MIN_EVENT_MS = MIN_EVENT_MS
_MAX_OFFSET_MINUTES = MAX_OFFSET_MINUTES
_SEPARATOR_A, _SEPARATOR_B = (ord(separator) for separator in TIMESTAMP_SEPARATORS)
_UTC = ord(UTC_DESIGNATOR)


@_helper
def _is_space(byte: int) -> bool:
    return byte == 32 or byte == 9 or byte == 10 or byte == 13


@_helper
def _skip_spaces(data: np.ndarray, pos: int, stop: int) -> int:
    while pos < stop and _is_space(data[pos]):
        pos += 1
    return pos


@_helper
def _string_end(data: np.ndarray, pos: int, stop: int) -> int:
    """Index of the closing quote of a plain string whose text starts at pos; -1 if not plain."""
    while pos < stop:
        byte = data[pos]
        if byte == 34:  # "
            return pos
        if byte == 92 or byte < 32:  # backslash, control character
            return -1
        pos += 1
    return -1


@_helper
def _digits(data: np.ndarray, pos: int, count: int) -> int:
    """The value of `count` ASCII digits at pos; -1 if any is not a digit."""
    result = 0
    for i in range(count):
        byte = data[pos + i]
        if byte < 48 or byte > 57:
            return -1
        result = result * 10 + (byte - 48)
    return result


_days_from_civil = _helper(calendar.days_from_civil)
_days_in_month = _helper(calendar.days_in_month)


@_helper
def _timestamp_ms(data: np.ndarray, a: int, b: int) -> tuple[bool, int]:
    """Epoch ms of timestamp text data[a:b]; (False, 0) when it is not in a plain shape."""
    if b - a < 19:
        return False, 0
    year = _digits(data, a, 4)
    month = _digits(data, a + 5, 2)
    day = _digits(data, a + 8, 2)
    hour = _digits(data, a + 11, 2)
    minute = _digits(data, a + 14, 2)
    second = _digits(data, a + 17, 2)
    separator = data[a + 10]
    if (
        year < 0 or month < 1 or month > 12 or day < 1 or hour < 0 or hour > 23
        or minute < 0 or minute > 59 or second < 0 or second > 59
        or data[a + 4] != 45 or data[a + 7] != 45 or data[a + 13] != 58 or data[a + 16] != 58
        or (separator != _SEPARATOR_A and separator != _SEPARATOR_B)
    ):  # fmt: skip
        return False, 0
    if day > _days_in_month(year, month):
        return False, 0
    pos = a + 19
    fraction_us = 0
    if pos < b and data[pos] == 46:  # .
        pos += 1
        count = 0
        while pos < b and 48 <= data[pos] <= 57:
            fraction_us = fraction_us * 10 + (data[pos] - 48)
            count += 1
            pos += 1
        if count == 0 or count > 6:
            return False, 0
        for _ in range(count, 6):
            fraction_us *= 10
    offset_minutes = 0
    if pos < b and data[pos] == _UTC:
        pos += 1
    elif pos < b and (data[pos] == 43 or data[pos] == 45):  # + or -
        if b - pos != 6 or data[pos + 3] != 58:
            return False, 0
        offset_hours = _digits(data, pos + 1, 2)
        offset_mins = _digits(data, pos + 4, 2)
        if offset_hours < 0 or offset_mins < 0 or offset_mins > 59:
            return False, 0
        if offset_hours * 60 + offset_mins > _MAX_OFFSET_MINUTES:
            return False, 0
        offset_minutes = offset_hours * 60 + offset_mins
        if data[pos] == 45:
            offset_minutes = -offset_minutes
        pos += 6
    if pos != b:
        return False, 0
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    # Rounded to the nearest millisecond, as the precise checks do.
    return True, (seconds - offset_minutes * 60) * 1000 + (fraction_us + 500) // 1000


@_helper
def _key_index(data: np.ndarray, a: int, b: int, key_bytes: np.ndarray, key_len: np.ndarray) -> int:
    length = b - a
    for k in range(len(key_len)):
        if key_len[k] != length:
            continue
        same = True
        for j in range(length):
            if data[a + j] != key_bytes[k, j]:
                same = False
                break
        if same:
            return k
    return -1


@_helper
def _choice_index(
    data: np.ndarray, a: int, b: int, choice_bytes: np.ndarray, choice_len: np.ndarray, k: int
) -> int:
    """Index of the choice of key k that data[a:b] spells; -1 if none."""
    length = b - a
    for c in range(choice_len.shape[1]):
        if choice_len[k, c] != length or length == 0:
            continue
        same = True
        for j in range(length):
            if data[a + j] != choice_bytes[k, c, j]:
                same = False
                break
        if same:
            return c
    return -1


@_helper
def _read_object(
    data: np.ndarray, pos: int, stop: int, key_bytes: np.ndarray, key_len: np.ndarray,
    state: np.ndarray, value: np.ndarray, start: np.ndarray, end: np.ndarray,
) -> bool:  # fmt: skip
    """Read one plain JSON object spanning data[pos:stop], per key; False if not plain."""
    pos = _skip_spaces(data, pos, stop)
    if pos >= stop or data[pos] != 123:  # {
        return False
    pos = _skip_spaces(data, pos + 1, stop)
    if pos < stop and data[pos] == 125:  # }: an empty object
        return _skip_spaces(data, pos + 1, stop) == stop
    while True:
        if pos >= stop or data[pos] != 34:
            return False
        key_end = _string_end(data, pos + 1, stop)
        if key_end < 0:
            return False
        k = _key_index(data, pos + 1, key_end, key_bytes, key_len)
        pos = _skip_spaces(data, key_end + 1, stop)
        if pos >= stop or data[pos] != 58:  # :
            return False
        pos = _skip_spaces(data, pos + 1, stop)
        if pos >= stop:
            return False
        byte = data[pos]
        if byte == 34:  # a string
            text_end = _string_end(data, pos + 1, stop)
            if text_end < 0:
                return False
            kind, number, text_start = _STRING, 0, pos + 1
            pos = text_end + 1
        elif byte == 45 or 48 <= byte <= 57:  # an integer
            negative = byte == 45
            if negative:
                pos += 1
            digits_start = pos
            number = 0
            while pos < stop and 48 <= data[pos] <= 57:
                number = number * 10 + (data[pos] - 48)
                pos += 1
            count = pos - digits_start
            if count == 0 or count > 18 or (count > 1 and data[digits_start] == 48):
                return False
            if pos < stop and (data[pos] == 46 or data[pos] == 101 or data[pos] == 69):
                return False  # a fraction or an exponent
            kind, text_start, text_end = _INTEGER, 0, 0
            if negative:
                number = -number
        elif (
            byte == 110 and pos + 4 <= stop
            and data[pos + 1] == 117 and data[pos + 2] == 108 and data[pos + 3] == 108
        ):  # fmt: skip
            kind, number, text_start, text_end = _NULL, 0, 0, 0
            pos += 4
        else:
            return False
        if k >= 0:
            if state[k] != _ABSENT:
                return False  # the same key twice
            state[k] = kind
            value[k] = number
            start[k] = text_start
            end[k] = text_end
        pos = _skip_spaces(data, pos, stop)
        if pos >= stop:
            return False
        if data[pos] == 44:  # ,
            pos = _skip_spaces(data, pos + 1, stop)
            continue
        if data[pos] == 125:  # }
            return _skip_spaces(data, pos + 1, stop) == stop
        return False


@_helper
def _check_fields(
    data: np.ndarray, r: int, latest_ms: int, kind: np.ndarray,
    choice_bytes: np.ndarray, choice_len: np.ndarray, min_value: np.ndarray,
    max_value: np.ndarray, role: np.ndarray,
    state: np.ndarray, value: np.ndarray, start: np.ndarray, end: np.ndarray,
) -> bool:  # fmt: skip
    """Check a line's fields as record type r; enums and timestamps get their values."""
    for k in range(2, len(kind)):
        seen = state[k]
        if seen == _ABSENT or seen == _NULL:
            if role[r, k] == _REQUIRED:
                return False
            state[k] = _NULL
            continue
        if role[r, k] == _NOT_ITS_OWN:
            return False  # another type's field, with a value
        if kind[k] == 0:  # a string, maybe one of some choices
            if seen != _STRING:
                return False
            if choice_len[k, 0]:
                c = _choice_index(data, start[k], end[k], choice_bytes, choice_len, k)
                if c < 0:
                    return False
                value[k] = c
        elif kind[k] == 1:  # an integer
            if seen != _INTEGER or value[k] < min_value[k] or value[k] > max_value[k]:
                return False
        else:  # a timestamp
            if seen == _STRING:
                ok, ms = _timestamp_ms(data, start[k], end[k])
                if not ok:
                    return False
                value[k] = ms
            elif seen != _INTEGER:
                return False
            if value[k] < _MIN_EVENT_MS or value[k] > latest_ms:
                return False
    return True


@numba.njit(cache=True, nogil=True)
def _scan_lines(
    data: np.ndarray, offsets: np.ndarray, skip: np.ndarray, latest_ms: int,
    key_bytes: np.ndarray, key_len: np.ndarray, kind: np.ndarray, choice_bytes: np.ndarray,
    choice_len: np.ndarray, min_value: np.ndarray, max_value: np.ndarray,
    rtype_type: np.ndarray, rtype_op: np.ndarray, role: np.ndarray, event_time_key: np.ndarray,
    string_slots: np.ndarray,
    accepted: np.ndarray, line: np.ndarray, record_type: np.ndarray, event_time_ms: np.ndarray,
    present: np.ndarray, value_out: np.ndarray, text_offsets: np.ndarray, text: np.ndarray,
) -> int:  # fmt: skip
    """Scan each line; write each accepted one as the next row of the outputs. Returns rows."""
    keys = len(key_len)
    # What one line holds, per key (see _read_object).
    state = np.zeros(keys, np.int8)
    value = np.zeros(keys, np.int64)
    start = np.zeros(keys, np.int64)
    end = np.zeros(keys, np.int64)
    rows = 0
    for i in range(len(offsets) - 1):
        a, b = offsets[i], offsets[i + 1]
        if skip[i] or b - a > _MAX_LINE_BYTES:
            continue
        state[:] = _ABSENT
        if not _read_object(data, a, b, key_bytes, key_len, state, value, start, end):
            continue
        if state[_TYPE] != _STRING:
            continue
        type_index = _choice_index(data, start[_TYPE], end[_TYPE], choice_bytes, choice_len, _TYPE)
        op_index = -1
        if state[_OP] == _STRING:
            op_index = _choice_index(data, start[_OP], end[_OP], choice_bytes, choice_len, _OP)
            if op_index < 0:
                continue
        elif state[_OP] != _ABSENT and state[_OP] != _NULL:
            continue
        r = -1
        for candidate in range(len(rtype_type)):
            if rtype_type[candidate] == type_index and rtype_op[candidate] == op_index:
                r = candidate
        if r < 0:
            continue
        if not _check_fields(
            data, r, latest_ms, kind, choice_bytes, choice_len, min_value, max_value, role,
            state, value, start, end,
        ):  # fmt: skip
            continue
        accepted[i] = True
        line[rows] = i
        record_type[rows] = r
        event_time_ms[rows] = value[event_time_key[r]]
        for slot in range(text_offsets.shape[0]):
            text_offsets[slot, rows + 1] = text_offsets[slot, rows]
        for k in range(2, keys):
            if state[k] < _STRING:
                continue
            present[k, rows] = True
            value_out[k, rows] = value[k]
            slot = string_slots[k]
            if slot >= 0:
                at = text_offsets[slot, rows]
                length = end[k] - start[k]
                text[slot, at : at + length] = data[start[k] : end[k]]
                text_offsets[slot, rows + 1] = at + length
        rows += 1
    return rows
