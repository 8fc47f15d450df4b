"""JSON read as DuckDB reads it, and values written back as DuckDB writes them, in Python.

The per-record validator (validation/record.py) must give the same verdict and the same reason
text as the DuckDB checks (validation/precise.py). Those read a line with DuckDB's JSON reader
and show a bad value as DuckDB's writer writes it back (`1e3` becomes `1000.0`, `"\\u00e9"`
becomes `"é"`). So here:

- `parse` is Python's strict JSON (no NaN or Infinity), where a repeated key keeps its first
  value, a lone surrogate is not valid JSON, and a number too large for a float or an int is kept
  as the text it was written as, and nesting deeper than MAX_JSON_DEPTH levels is not valid
  JSON (a line that may be that deep is read by a loop of the same grammar, as is one deeper
  than Python's recursion limit);
- `text` writes a value back: compact, floats in the shortest form that reads back the same
  (decimal notation from 1e-6 up to 1e21, else an exponent), controls escaped with upper-case
  hex. tests/test_json_text.py compares it with DuckDB's.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pageviews.model.records import MAX_JSON_DEPTH


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
        # Only a line with that many brackets can be too deep: the loop counts its levels.
        if line.count("[") + line.count("{") > MAX_JSON_DEPTH:
            value = _parse_deep(line)
        else:
            value = _DECODER.decode(line)
    except RecursionError:
        value = _parse_deep(line)
    except ValueError as error:
        raise NotJson(str(error)) from error
    # Only an escape can make a lone surrogate; DuckDB refuses those as not valid JSON.
    if "\\ud" in line or "\\uD" in line:
        try:
            text(value).encode()
        except UnicodeEncodeError as error:
            raise NotJson("a lone surrogate") from error
    return value


_WHITESPACE = re.compile(r"[ \t\n\r]*")
# json.scanner's number grammar, with ASCII digits only (as its C scanner reads them).
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = {"null": None, "true": True, "false": False}


class _Deep:
    """A loop that reads what the C decoder reads, with its own stack instead of recursion:
    the same tokens (json.decoder's strict string reader, the number grammar above), the same
    hooks for objects and numbers; and it refuses nesting deeper than MAX_JSON_DEPTH."""

    def __init__(self, line: str) -> None:
        self.line = line
        self.pos = 0

    def fail(self, what: str) -> NotJson:
        return NotJson(f"{what} at character {self.pos}")

    def skip(self) -> str:
        """Skip whitespace; the next character, or '' at the end."""
        match = _WHITESPACE.match(self.line, self.pos)
        assert match is not None  # the pattern matches the empty string
        self.pos = match.end()
        return self.line[self.pos : self.pos + 1]

    def string(self) -> str:
        try:
            value, self.pos = json.decoder.scanstring(self.line, self.pos + 1, True)  # type: ignore[attr-defined]
        except ValueError as error:
            raise NotJson(str(error)) from error
        return value  # type: ignore[no-any-return]

    def key(self) -> str:
        if self.skip() != '"':
            raise self.fail("expected a key")
        key = self.string()
        if self.skip() != ":":
            raise self.fail("expected ':'")
        self.pos += 1
        return key

    def scalar(self, first: str) -> Any:
        if first == '"':
            return self.string()
        number = _NUMBER.match(self.line, self.pos)
        if number is not None:
            self.pos = number.end()
            integer, fraction, exponent = number.groups()
            if fraction or exponent:
                return _float(number.group())
            return _int(integer)
        for word, value in _LITERALS.items():
            if self.line.startswith(word, self.pos):
                self.pos += len(word)
                return value
        raise self.fail("expected a value")

    def read(self) -> Any:
        # Each open container: its items (values, or key-value pairs) and its key if an object.
        open_items: list[list[Any]] = []
        open_keys: list[str | None] = []
        while True:
            first = self.skip()
            if first in ("[", "{"):
                if len(open_items) >= MAX_JSON_DEPTH:
                    raise self.fail(f"nested deeper than {MAX_JSON_DEPTH} levels")
                self.pos += 1
                closer = "]" if first == "[" else "}"
                if self.skip() == closer:
                    self.pos += 1
                    value: Any = [] if first == "[" else _object([])
                else:
                    open_items.append([])
                    open_keys.append(self.key() if first == "{" else None)
                    continue
            else:
                value = self.scalar(first)
            # Put the value in its container; close every container that ends here.
            while open_items:
                key = open_keys[-1]
                open_items[-1].append(value if key is None else (key, value))
                following = self.skip()
                self.pos += 1
                if following == ",":
                    if key is not None:
                        open_keys[-1] = self.key()
                    break
                if following != ("]" if key is None else "}"):
                    self.pos -= 1
                    raise self.fail("expected ',' or the container's end")
                items = open_items.pop()
                open_keys.pop()
                value = items if key is None else _object(items)
            else:
                if self.skip():
                    raise self.fail("extra data")
                return value


def _parse_deep(line: str) -> Any:
    return _Deep(line).read()


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


def _scalar_text(value: Any) -> str:
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
    raise TypeError(f"not a JSON value: {value!r}")


def text(value: Any) -> str:
    """A JSON value written back compactly, as DuckDB writes it (a loop, not recursion: a value
    may be nested thousands deep)."""
    out: list[str] = []
    # Work to do, last first: values to write, and punctuation (str) to write as it is.
    todo: list[tuple[bool, Any]] = [(False, value)]
    while todo:
        is_punctuation, item = todo.pop()
        if is_punctuation:
            out.append(item)
        elif isinstance(item, list):
            out.append("[")
            todo.append((True, "]"))
            for index in reversed(range(len(item))):
                todo.append((False, item[index]))
                if index:
                    todo.append((True, ","))
        elif isinstance(item, dict):
            pairs = item.pairs if isinstance(item, JsonObject) else list(item.items())
            out.append("{")
            todo.append((True, "}"))
            for index in reversed(range(len(pairs))):
                key, member = pairs[index]
                todo.append((False, member))
                todo.append((True, _string(key) + ":"))
                if index:
                    todo.append((True, ","))
        else:
            out.append(_scalar_text(item))
    return "".join(out)
