"""JSON read as DuckDB reads it, and values written back as DuckDB writes them, in Python.

The per-record validator (validation/record.py) must give the same verdict and the same reason
text as the DuckDB checks (validation/precise.py). Those read a line with DuckDB's JSON reader
and show a bad value as DuckDB's writer writes it back (`1e3` becomes `1000.0`, `"\\u00e9"`
becomes `"é"`). So here:

- `parse` is Python's strict JSON (no NaN or Infinity), where a repeated key keeps its first
  value, a lone surrogate is not valid JSON, and a number too large for a float or an int is kept
  as the text it was written as;
- `text` writes a value back: compact, floats in the shortest form that reads back the same
  (decimal notation from 1e-6 up to 1e21, else an exponent), controls escaped with upper-case
  hex. tests/test_json_text.py compares it with DuckDB's.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


class NotJson(ValueError):
    """The text is not valid JSON."""


@dataclass(frozen=True)
class RawNumber:
    """A number kept as written: it does not fit a float or a 64-bit integer."""

    text: str


class JsonObject(dict[str, Any]):
    """A JSON object. A repeated key reads as its first value; `pairs` keeps every member, in
    order, to write the object back."""

    pairs: list[tuple[str, Any]]


def _object(pairs: list[tuple[str, Any]]) -> JsonObject:
    result = JsonObject()
    for key, value in pairs:
        result.setdefault(key, value)
    result.pairs = pairs
    return result


def _float(text: str) -> float | RawNumber:
    value = float(text)
    return value if math.isfinite(value) else RawNumber(text)


def _int(text: str) -> int | RawNumber:
    # Python refuses to read ints of thousands of digits; such a number is kept as text.
    return int(text) if len(text) < 1000 else RawNumber(text)


def _no_constant(text: str) -> Any:
    raise NotJson(f"{text} is not JSON")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_float=_float, parse_int=_int, parse_constant=_no_constant
)


def parse(line: str) -> Any:
    """The JSON value of a line; raises NotJson."""
    try:
        value = _DECODER.decode(line)
    except (ValueError, RecursionError) as error:
        raise NotJson(str(error)) from error
    # Only an escape can make a lone surrogate; DuckDB refuses those as not valid JSON.
    if "\\ud" in line or "\\uD" in line:
        try:
            text(value).encode()
        except UnicodeEncodeError as error:
            raise NotJson("a lone surrogate") from error
    return value


def kind(value: Any) -> str:
    """What a JSON value is: string, number, array, boolean, null or object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, RawNumber)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\"} | {code: f"\\u{code:04X}" for code in range(32)}
_ESCAPES.update({8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"})


def _string(value: str) -> str:
    return '"' + value.translate(_ESCAPES) + '"'


def _double(value: float) -> str:
    """A float as the shortest digits that read back the same, placed as DuckDB places them."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    decimal = Decimal(repr(abs(value))).normalize()
    _, digit_tuple, exponent = decimal.as_tuple()
    digits = "".join(map(str, digit_tuple))
    assert isinstance(exponent, int)
    point = len(digits) + exponent  # digits before the decimal point
    if len(digits) <= point <= 21:
        return f"{sign}{digits}{'0' * (point - len(digits))}.0"
    if 0 < point <= 21:
        return f"{sign}{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{mantissa}e{point - 1}"


def text(value: Any) -> str:
    """A JSON value written back compactly, as DuckDB writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, RawNumber):
        return value.text
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ",".join(text(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = value.pairs if isinstance(value, JsonObject) else list(value.items())
        return "{" + ",".join(f"{_string(key)}:{text(item)}" for key, item in pairs) + "}"
    raise TypeError(f"not a JSON value: {value!r}")
