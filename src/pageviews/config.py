"""Pipeline configuration: window sizes and lateness, shared by every runtime.

All durations are integers in milliseconds (`_ms`); `timedelta` is accepted only at the CLI edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from pageviews.errors import ConfigError

MINUTE_MS = 60_000

# A watermark value that stands for +infinity (end of a replayed input). It is far beyond any
# valid event time, and still fits comfortably in a BIGINT.
END_OF_INPUT_MS = 2**62

# The longest window, gap or lateness: ten years. Event times (epoch ms, at most year 9999:
# 2.5e14) plus a few of these stay far from BIGINT's 9.2e18, in DuckDB, Flink and Pinot alike.
MAX_DURATION_MS = 3_650 * 24 * 3_600_000
# Each page view is counted in hopping_size / hopping_step windows: a bound on that work.
MAX_HOPS_PER_EVENT = 1_000


@dataclass(frozen=True)
class WindowConfig:
    """Sizes of every window and the allowed lateness. Defaults follow the reference system."""

    lateness_ms: int = 30_000
    tumbling_ms: int = 5 * MINUTE_MS
    hopping_size_ms: int = 5 * MINUTE_MS
    hopping_step_ms: int = 1 * MINUTE_MS
    session_gap_ms: int = 5 * MINUTE_MS
    user_session_gap_ms: int = 5 * MINUTE_MS
    country_ms: int = 5 * MINUTE_MS

    def __post_init__(self) -> None:
        for name in (
            "tumbling_ms",
            "hopping_size_ms",
            "hopping_step_ms",
            "session_gap_ms",
            "user_session_gap_ms",
            "country_ms",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.lateness_ms < 0:
            raise ConfigError(f"lateness_ms must be >= 0, got {self.lateness_ms}")
        for name, value in vars(self).items():
            if value > MAX_DURATION_MS:
                raise ConfigError(
                    f"{name} must be at most {MAX_DURATION_MS} (ten years), got {value}"
                )
        if self.hopping_size_ms % self.hopping_step_ms != 0:
            raise ConfigError(
                "hopping_size_ms must be a multiple of hopping_step_ms "
                f"({self.hopping_size_ms} % {self.hopping_step_ms} != 0)"
            )
        if self.hops_per_event > MAX_HOPS_PER_EVENT:
            raise ConfigError(
                f"hopping_size_ms / hopping_step_ms must be at most {MAX_HOPS_PER_EVENT} windows "
                f"per event, got {self.hops_per_event}"
            )

    @property
    def hops_per_event(self) -> int:
        return self.hopping_size_ms // self.hopping_step_ms
