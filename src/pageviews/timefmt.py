"""Durations and instants for humans: parsing "30s"/"5m", printing UTC times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pageviews.config import END_OF_INPUT_MS, MAX_DURATION_MS
from pageviews.engine.state import NO_WATERMARK_MS
from pageviews.errors import ConfigError

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h)?\s*$")


def parse_duration_ms(text: str) -> int:
    """'250ms', '30s', '5m', '1h' -> milliseconds; a bare number means seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"not a duration: {text!r} (examples: 250ms, 30s, 5m, 1h)")
    value_ms = int(match.group(1)) * _UNITS_MS[match.group(2) or "s"]
    if value_ms > MAX_DURATION_MS:
        raise ConfigError(f"at most {MAX_DURATION_MS // 3_600_000:,}h (ten years), got {text!r}")
    return value_ms


def format_ms(epoch_ms: int | None) -> str:
    """An instant in UTC, with the two watermark sentinels spelled out."""
    if epoch_ms is None or epoch_ms <= NO_WATERMARK_MS:
        return "none yet"
    if epoch_ms >= END_OF_INPUT_MS:
        return "+inf (end of input)"
    return (
        datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    )
