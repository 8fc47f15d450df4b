"""Deterministic generator of JSONL input lines: page views, user sessions and user changes.

The generator runs a simulated clock that advances by an exponential gap per line. Everything it
emits is drawn from one `random.Random(seed)`, so the same config gives byte-identical output.
It never reads the wall clock: in live mode the caller passes `clock_ms`, and event times are
taken from it instead of the simulated clock; the content and order of lines stay the same.
Sessions, idle times and quiet periods are still scheduled on the simulated clock, so they only
separate in event time when the caller paces at about 1000 / mean_gap_ms lines per second.

Shape of the stream (see issue 2, section 3):
- users become active in bursts: a `usersession` login, then page views spread over a few
  minutes; a session ends and the user stays idle for more than 5 minutes + lateness before
  logging in again, so per-user session windows separate;
- the whole stream goes quiet for more than 5 minutes + lateness every 20-40 minutes, so the
  per-source session windows separate too;
- a user's first upsert is emitted when the user first becomes active; later upserts change the
  country or subscription, some upserts have NULL fields, some users are deleted and some of
  those come back;
- every event time is "now" minus a delay within half the allowed lateness; a small fraction of
  page views is really late, and a small fraction of lines is malformed (every kind of bad input
  of section 6, in rotation).
"""

from __future__ import annotations

import heapq
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from os import PathLike
from random import Random
from typing import IO, Any

import orjson

from pageviews.config import MINUTE_MS
from pageviews.errors import ConfigError
from pageviews.model.records import DEVICES, MAX_LINE_BYTES, SOURCES, SUBSCRIPTIONS

SECOND_MS = 1_000
SESSION_GAP_MS = 5 * MINUTE_MS

COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "JP", "CA", "AU", "ES", "NL", "SE")
GENDERS = ("M", "F", "X")

# Names of the kinds of bad lines, in the order they rotate (issue 2, section 6).
MALFORMED_KINDS = (
    "not_json",
    "not_object",
    "unknown_type",
    "missing_field",
    "wrong_type_user_id_str",
    "wrong_type_user_id_float",
    "wrong_type_age",
    "bad_enum_source",
    "bad_enum_device",
    "bad_timestamp",
    "timestamp_before_2000",
    "timestamp_far_ahead",
    "too_long",
)

# Share of valid lines per record type (the rest are page views).
_USER_SHARE = 0.07
_SESSION_SHARE = 0.08
# Timestamp formats: "YYYY-MM-DD HH:MM:SS" is the most common, then ISO 8601, then epoch ms.
_PLAIN_SHARE = 0.70
_ISO_SHARE = 0.15
# ISO 8601 variants: (suffix, offset from UTC in ms, with milliseconds).
_ISO_VARIANTS: tuple[tuple[str, int, bool], ...] = (
    ("Z", 0, False),
    ("Z", 0, True),
    ("+02:00", 2 * 3_600_000, False),
    ("-05:00", -5 * 3_600_000, True),
    ("+05:30", 5 * 3_600_000 + 30 * MINUTE_MS, False),
    ("+09:00", 9 * 3_600_000, True),
)
# Uneven source weights, expanded so one uniform draw picks a source.
_SOURCE_POOL = ("Homepage",) * 11 + ("Inbox",) * 6 + ("External",) * 3
_GENDER_POOL = ("M",) * 12 + ("F",) * 12 + ("X",)
_COUNTRY_POOL = COUNTRIES[:4] * 3 + COUNTRIES[4:8] * 2 + COUNTRIES[8:]
_FIRST_NAMES = ("ana", "ben", "chen", "dara", "eli", "fatima", "goran", "hana", "ivan", "jo")
_LAST_NAMES = ("smith", "garcia", "kim", "novak", "okafor", "silva", "tanaka", "weber")

_INCOMPLETE_SHARE = 0.05  # of upserts, with at least one NULL field
_DELETE_SHARE = 0.03  # of user records picking a live user
_COMEBACK_SHARE = 0.25  # chance that a deleted user who is picked comes back
_NO_PROFILE_SHARE = 0.02  # users who never get an upsert (their views join to 'unknown')

_SESSION_MIN_MS = 30 * SECOND_MS
_SESSION_MAX_MS = 4 * MINUTE_MS
_QUIET_EVERY_MIN_MS = 20 * MINUTE_MS
_QUIET_EVERY_MAX_MS = 40 * MINUTE_MS
_LATE_MIN_MS = 6 * MINUTE_MS
_LATE_MAX_MS = 20 * MINUTE_MS
_SECOND_CACHE_MAX = 8_192
_PROGRESS_EVERY = 100_000
_WRITE_BATCH = 4_096


# Every user is in a list from the start: a million is plenty, and bounded memory.
MAX_USERS = 1_000_000


@dataclass(frozen=True)
class GeneratorConfig:
    seed: int = 0
    events: int | None = 10_000  # number of lines to emit; None = unbounded
    users: int = 1_000
    start_ms: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z, simulated clock start
    mean_gap_ms: int = 20  # mean simulated time between consecutive lines
    lateness_ms: int = 30_000  # disorder stays within this
    late_fraction: float = 0.002  # page views emitted far behind (> lateness + 6 min)
    malformed_fraction: float = 0.001

    def __post_init__(self) -> None:
        if self.events is not None and self.events < 0:
            raise ConfigError(f"events must be >= 0 or None, got {self.events}")
        if not 1 <= self.users <= MAX_USERS:
            raise ConfigError(f"users must be within 1..{MAX_USERS:,}, got {self.users}")
        if self.mean_gap_ms < 0:
            raise ConfigError(f"mean_gap_ms must be >= 0, got {self.mean_gap_ms}")
        if self.lateness_ms < 0:
            raise ConfigError(f"lateness_ms must be >= 0, got {self.lateness_ms}")
        for name in ("late_fraction", "malformed_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{name} must be within [0, 1], got {value}")


def generate_lines(
    config: GeneratorConfig, clock_ms: Callable[[], int] | None = None
) -> Iterator[str]:
    """Yield `config.events` JSONL lines (no trailing newline), forever if `events` is None.

    With `clock_ms` (live mode), event times are `clock_ms()` minus the same random delays;
    the caller paces the rate. Without it, a simulated clock from `config.start_ms` is used.
    """
    return _Generator(config, clock_ms).lines()


def write_jsonl(
    config: GeneratorConfig,
    path_or_stdout: str | PathLike[str] | IO[str],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the generated lines, each ending in "\\n", and return how many were written.

    `path_or_stdout` is a path, "-" for stdout, or an open text stream. `progress` is called
    with the running count every 100 000 lines.
    """
    if isinstance(path_or_stdout, str) and path_or_stdout == "-":
        return _write_lines(config, sys.stdout, progress)
    if isinstance(path_or_stdout, (str, PathLike)):
        with open(path_or_stdout, "w", encoding="utf-8", newline="\n") as out:
            return _write_lines(config, out, progress)
    return _write_lines(config, path_or_stdout, progress)


def _write_lines(
    config: GeneratorConfig, out: IO[str], progress: Callable[[int], None] | None
) -> int:
    count = 0
    batch: list[str] = []
    for line in generate_lines(config):
        batch.append(line)
        count += 1
        if len(batch) >= _WRITE_BATCH:
            batch.append("")  # so the join ends with a newline too
            out.write("\n".join(batch))
            batch.clear()
        if progress is not None and count % _PROGRESS_EVERY == 0:
            progress(count)
    if batch:
        batch.append("")
        out.write("\n".join(batch))
    out.flush()
    return count


def _format_second(epoch_s: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s))


class _Generator:
    """All generator state; `lines()` is the hot loop, the rarer records are methods."""

    def __init__(self, config: GeneratorConfig, clock_ms: Callable[[], int] | None) -> None:
        self.config = config
        self.clock_ms = clock_ms
        rng = Random(config.seed)
        self.rng = rng
        self.sim_ms = float(config.start_ms)
        self.next_quiet_ms = self.sim_ms + rng.uniform(_QUIET_EVERY_MIN_MS, _QUIET_EVERY_MAX_MS)
        # A new session of a user needs this much idle time (simulated) since its last view:
        # with delays up to lateness/2, event times are then more than the gap apart.
        self.idle_needed_ms = SESSION_GAP_MS + config.lateness_ms + SECOND_MS
        self.quiet_min_ms = SESSION_GAP_MS + config.lateness_ms + 30 * SECOND_MS
        self.half_lateness_ms = config.lateness_ms // 2
        self.second_cache: dict[int, str] = {}

        n = config.users
        self.user_ids = [i + 1 for i in range(n)]
        self.names = [
            f"{rng.choice(_FIRST_NAMES)}_{rng.choice(_LAST_NAMES)}{rng.randrange(100)}"
            for _ in range(n)
        ]
        self.ages = [rng.randint(16, 80) for _ in range(n)]
        self.genders = [rng.choice(_GENDER_POOL) for _ in range(n)]
        self.countries = [rng.choice(_COUNTRY_POOL) for _ in range(n)]
        self.subscriptions = [rng.choice(SUBSCRIPTIONS) for _ in range(n)]
        self.deleted = [False] * n
        self.known: list[int] = []  # users with a first upsert, in order
        self.last_view_ms = [0.0] * n  # simulated time of the user's last view or login
        self.active_count = [0] * n  # open sessions per user (more than one: second device)
        self.fresh = list(range(n))  # users never active yet
        rng.shuffle(self.fresh)
        self.idle: list[tuple[float, int]] = []  # heap of (last view ms, user)
        # Open sessions, as parallel lists so that removal is a swap-pop.
        self.act_user: list[int] = []
        self.act_session: list[str] = []
        self.act_end_ms: list[float] = []
        self.malformed_turn = 0

    # -- time -------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return self.clock_ms() if self.clock_ms is not None else int(self.sim_ms)

    def plain(self, epoch_s: int) -> str:
        text = self.second_cache.get(epoch_s)
        if text is None:
            if len(self.second_cache) >= _SECOND_CACHE_MAX:
                self.second_cache.clear()
            text = self.second_cache[epoch_s] = _format_second(epoch_s)
        return text

    def stamp(self, t_ms: int) -> str | int:
        """Render event time `t_ms` in one of the three formats (truncating to its precision)."""
        return self.stamp_with(t_ms, self.rng.random())

    def stamp_with(self, t_ms: int, r: float) -> str | int:
        """`stamp` with the format already drawn: `r` uniform in [0, 1)."""
        if r < _PLAIN_SHARE:
            return self.plain(t_ms // SECOND_MS)
        if r < _PLAIN_SHARE + _ISO_SHARE:
            variant = int((r - _PLAIN_SHARE) / _ISO_SHARE * len(_ISO_VARIANTS))
            suffix, offset_ms, with_ms = _ISO_VARIANTS[min(variant, len(_ISO_VARIANTS) - 1)]
            local_ms = t_ms + offset_ms
            text = self.plain(local_ms // SECOND_MS)
            frac = f".{local_ms % SECOND_MS:03d}" if with_ms else ""
            return f"{text[:10]}T{text[11:]}{frac}{suffix}"
        return t_ms

    def event_ms(self) -> int:
        return self.now_ms() - int(self.rng.random() * (self.half_lateness_ms + 1))

    # -- sessions ---------------------------------------------------------------------------

    def end_session(self, i: int) -> None:
        user = self.act_user[i]
        last = len(self.act_user) - 1
        self.act_user[i] = self.act_user[last]
        self.act_session[i] = self.act_session[last]
        self.act_end_ms[i] = self.act_end_ms[last]
        self.act_user.pop()
        self.act_session.pop()
        self.act_end_ms.pop()
        self.active_count[user] -= 1
        if self.active_count[user] == 0:
            heapq.heappush(self.idle, (self.last_view_ms[user], user))

    def go_quiet(self) -> None:
        """The whole stream pauses: every session ends, and the clock jumps ahead."""
        while self.act_user:
            self.end_session(len(self.act_user) - 1)
        rng = self.rng
        self.sim_ms += self.quiet_min_ms + rng.uniform(0, 2 * MINUTE_MS)
        self.next_quiet_ms = self.sim_ms + rng.uniform(_QUIET_EVERY_MIN_MS, _QUIET_EVERY_MAX_MS)

    def pick_login_user(self) -> tuple[int, bool]:
        """Choose who logs in: (user, whether it is their first activity)."""
        rng = self.rng
        idle = self.idle
        while idle and (
            self.active_count[idle[0][1]] > 0 or idle[0][0] != self.last_view_ms[idle[0][1]]
        ):
            heapq.heappop(idle)  # stale entry: the user became active again since
        rested = bool(idle) and idle[0][0] + self.idle_needed_ms < self.sim_ms
        if self.fresh and (not rested or rng.random() < 0.5):
            return self.fresh.pop(), True
        if rested:
            return heapq.heappop(idle)[1], False
        if self.act_user:  # nobody rested: a second device of an active user
            return self.act_user[int(rng.random() * len(self.act_user))], False
        return heapq.heappop(idle)[1], False

    def login(self) -> Iterator[str]:
        """A user starts a session; on their first activity, their first upsert comes first."""
        rng = self.rng
        user, first = self.pick_login_user()
        if first and rng.random() >= _NO_PROFILE_SHARE:
            self.known.append(user)
            yield self.upsert(user)
        session_id = f"{rng.getrandbits(64):016x}"
        self.act_user.append(user)
        self.act_session.append(session_id)
        self.act_end_ms.append(self.sim_ms + rng.uniform(_SESSION_MIN_MS, _SESSION_MAX_MS))
        self.active_count[user] += 1
        self.last_view_ms[user] = self.sim_ms
        yield orjson.dumps(
            {
                "type": "usersession",
                "session_id": session_id,
                "user_id": self.user_ids[user],
                "user_name": self.names[user],
                "login_timestamp": self.stamp(self.event_ms()),
                "device": DEVICES[int(rng.random() * len(DEVICES))],
            }
        ).decode()

    # -- users ------------------------------------------------------------------------------

    def upsert(self, user: int) -> str:
        rng = self.rng
        record: dict[str, Any] = {
            "type": "user",
            "op": "upsert",
            "user_id": self.user_ids[user],
            "age": self.ages[user],
            "gender": self.genders[user],
            "country": self.countries[user],
            "subscription": self.subscriptions[user],
        }
        if rng.random() < _INCOMPLETE_SHARE:
            fields = ("age", "gender", "country", "subscription")
            nulls = [f for f in fields if rng.random() < 0.4] or [rng.choice(fields)]
            for field in nulls:
                record[field] = None
        record["updated_at"] = self.stamp(self.event_ms())
        return orjson.dumps(record).decode()

    def user_change(self) -> Iterator[str]:
        """A change to a known user: an update, a delete, or a deleted user's comeback."""
        rng = self.rng
        if not self.known:
            yield from self.login()
            return
        user = self.known[int(rng.random() * len(self.known))]
        for _ in range(5):  # prefer live users; a picked deleted user sometimes comes back
            if not self.deleted[user] or rng.random() < _COMEBACK_SHARE:
                break
            user = self.known[int(rng.random() * len(self.known))]
        if self.deleted[user]:
            self.deleted[user] = False
            self.countries[user] = rng.choice(_COUNTRY_POOL)
            yield self.upsert(user)
            return
        r = rng.random()
        if r < _DELETE_SHARE:
            self.deleted[user] = True
            yield orjson.dumps(
                {
                    "type": "user",
                    "op": "delete",
                    "user_id": self.user_ids[user],
                    "updated_at": self.stamp(self.event_ms()),
                }
            ).decode()
            return
        if r < 0.55:
            self.countries[user] = rng.choice(_COUNTRY_POOL)
        elif r < 0.95:
            self.subscriptions[user] = rng.choice(SUBSCRIPTIONS)
        else:
            self.ages[user] = min(self.ages[user] + 1, 80)
        yield self.upsert(user)

    # -- bad input --------------------------------------------------------------------------

    def malformed(self) -> str:
        """One bad line; the kinds of section 6 take turns."""
        rng = self.rng
        kind = MALFORMED_KINDS[self.malformed_turn % len(MALFORMED_KINDS)]
        self.malformed_turn += 1
        user_id = self.user_ids[int(rng.random() * len(self.user_ids))]
        ts = self.stamp(self.event_ms())
        view: dict[str, Any] = {
            "type": "pageview",
            "session_id": f"{rng.getrandbits(64):016x}",
            "user_id": user_id,
            "source": rng.choice(SOURCES),
            "event_timestamp": ts,
        }
        if kind == "not_json":
            return rng.choice(
                (
                    '{"type":"pageview","session_id":"x","user_id":',
                    "GET /index.html HTTP/1.1",
                    "{'type': 'pageview'}",
                )
            )
        if kind == "not_object":
            return rng.choice(('["pageview",1,2]', '"pageview"', "42", "null"))
        if kind == "unknown_type":
            view["type"] = rng.choice(("click", "PageView", "purchase"))
        elif kind == "missing_field":
            del view[rng.choice(("session_id", "user_id", "source", "event_timestamp"))]
        elif kind == "wrong_type_user_id_str":
            view["user_id"] = "abc"
        elif kind == "wrong_type_user_id_float":
            view["user_id"] = 1.5
        elif kind == "wrong_type_age":
            view = {
                "type": "user",
                "op": "upsert",
                "user_id": user_id,
                "age": "old",
                "gender": "F",
                "country": "US",
                "subscription": "Gold",
                "updated_at": ts,
            }
        elif kind == "bad_enum_source":
            view["source"] = "Twitter"
        elif kind == "bad_enum_device":
            view = {
                "type": "usersession",
                "session_id": view["session_id"],
                "user_id": user_id,
                "user_name": "mallory",
                "login_timestamp": ts,
                "device": "Phone",
            }
        elif kind == "bad_timestamp":
            view["event_timestamp"] = rng.choice(
                ("2026-13-45 25:61:00", "yesterday at noon", "", "2026-01-01T00:00:00+99:00")
            )
        elif kind == "timestamp_before_2000":
            view["event_timestamp"] = rng.choice(
                ("1999-12-31 23:59:59", "1970-01-01T00:00:00Z", 946_684_799_999)
            )
        elif kind == "timestamp_far_ahead":
            view["event_timestamp"] = rng.choice(
                ("2099-01-01 00:00:00", "2099-06-30T12:00:00+02:00", 4_070_908_800_000)
            )
        else:  # too_long: otherwise valid, padded beyond the line limit
            view["padding"] = "x" * (MAX_LINE_BYTES + 256)
        return orjson.dumps(view).decode()

    # -- the loop ---------------------------------------------------------------------------

    def lines(self) -> Iterator[str]:
        config = self.config
        rng = self.rng
        random = rng.random
        log = math.log
        dumps = orjson.dumps
        plain = self.plain
        stamp_with = self.stamp_with
        clock_ms = self.clock_ms
        act_user = self.act_user
        act_session = self.act_session
        act_end_ms = self.act_end_ms
        last_view_ms = self.last_view_ms
        user_ids = self.user_ids
        sources = _SOURCE_POOL
        n_sources = len(sources)
        mean_gap_ms = float(config.mean_gap_ms)
        delay_range = self.half_lateness_ms + 1
        late_fraction = config.late_fraction
        late_base_ms = config.lateness_ms + _LATE_MIN_MS
        late_span_ms = _LATE_MAX_MS - _LATE_MIN_MS
        bad = config.malformed_fraction
        user_below = bad + (1.0 - bad) * _USER_SHARE
        login_below = user_below + (1.0 - bad) * _SESSION_SHARE
        remaining = config.events

        while remaining is None or remaining > 0:
            self.sim_ms += -log(1.0 - random()) * mean_gap_ms
            if self.sim_ms >= self.next_quiet_ms:
                self.go_quiet()
            sim_ms = self.sim_ms
            r = random()
            if r < login_below:
                if r < bad:
                    out: Iterator[str] = iter((self.malformed(),))
                elif r < user_below:
                    out = self.user_change()
                else:
                    out = self.login()
                for line in out:
                    yield line
                    if remaining is not None:
                        remaining -= 1
                        if remaining == 0:
                            return
                continue

            # A page view of a random open session (the hot path: kept inline).
            while act_user:
                i = int(random() * len(act_user))
                if act_end_ms[i] >= sim_ms:
                    break
                self.end_session(i)
            if not act_user:
                for line in self.login():
                    yield line
                    if remaining is not None:
                        remaining -= 1
                        if remaining == 0:
                            return
                continue
            user = act_user[i]
            last_view_ms[user] = sim_ms
            now_ms = clock_ms() if clock_ms is not None else int(sim_ms)
            if random() < late_fraction:
                t_ms = now_ms - late_base_ms - int(random() * late_span_ms)
            else:
                t_ms = now_ms - int(random() * delay_range)
            f = random()
            ts: str | int
            if f < _PLAIN_SHARE:
                ts = plain(t_ms // SECOND_MS)
            else:
                ts = stamp_with(t_ms, f)
            yield dumps(
                {
                    "type": "pageview",
                    "session_id": act_session[i],
                    "user_id": user_ids[user],
                    "source": sources[int(random() * n_sources)],
                    "event_timestamp": ts,
                }
            ).decode()
            if remaining is not None:
                remaining -= 1
