"""Tests of the deterministic input generator (issue 2, section 3)."""

from __future__ import annotations

import io
import itertools
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pageviews.model.records import (
    DEVICES,
    MAX_LINE_BYTES,
    MIN_EVENT_MS,
    SOURCES,
    SUBSCRIPTIONS,
)
from pageviews.sources.generator import GeneratorConfig, generate_lines, write_jsonl

LATENESS_MS = 30_000
GAP_MS = 5 * 60_000
# A fixed "wall clock" for the far-ahead check: the generator's default start plus a year.
WALL_MS = 1_767_225_600_000 + 365 * 86_400_000

FIELDS: dict[str, dict[str, str]] = {
    "pageview": {
        "session_id": "str",
        "user_id": "int",
        "source": "source",
        "event_timestamp": "ts",
    },
    "usersession": {
        "session_id": "str",
        "user_id": "int",
        "user_name": "str",
        "login_timestamp": "ts",
        "device": "device",
    },
    "user/upsert": {
        "user_id": "int",
        "age": "int?",
        "gender": "str?",
        "country": "str?",
        "subscription": "subscription?",
        "updated_at": "ts",
    },
    "user/delete": {"user_id": "int", "updated_at": "ts"},
}
ENUMS = {"source": SOURCES, "device": DEVICES, "subscription": SUBSCRIPTIONS}
EVENT_FIELD = {
    "pageview": "event_timestamp",
    "usersession": "login_timestamp",
    "user": "updated_at",
}


def parse_ts(value: Any) -> int:
    """Epoch ms of a T value; raises ValueError when it cannot be parsed."""
    if isinstance(value, bool):
        raise ValueError("bool is not a timestamp")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    if len(value) == 19 and value[10] == " ":
        value = value.replace(" ", "T") + "+00:00"
    elif "T" not in value:
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"no time zone: {value!r}")
    return round(parsed.timestamp() * 1000)


def classify(line: str) -> tuple[str, dict[str, Any] | None]:
    """("ok", record) for a valid line, else (reason, None). An independent mini validator."""
    if len(line.encode()) > MAX_LINE_BYTES:
        return "too_long", None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return "not_json", None
    if not isinstance(record, dict):
        return "not_object", None
    label = record.get("type")
    if label == "user":
        label = f"user/{record.get('op')}"
    if label not in FIELDS:
        return "unknown_type", None
    for name, kind in FIELDS[label].items():
        if name not in record:
            return "missing_field", None
        value = record[name]
        if kind.endswith("?"):
            if value is None:
                continue
            kind = kind[:-1]
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            return "wrong_type", None
        if kind in ("str", *ENUMS) and not isinstance(value, str):
            return "wrong_type", None
        if kind in ENUMS and value not in ENUMS[kind]:
            return "bad_enum", None
        if kind == "ts":
            try:
                t_ms = parse_ts(value)
            except ValueError:
                return "bad_timestamp", None
            if t_ms < MIN_EVENT_MS:
                return "too_old", None
            if t_ms > WALL_MS + 86_400_000:
                return "too_far_ahead", None
    return "ok", record


def event_ms(record: dict[str, Any]) -> int:
    return parse_ts(record[EVENT_FIELD[record["type"]]])


def valid_records(lines: list[str]) -> list[dict[str, Any]]:
    out = []
    for line in lines:
        reason, record = classify(line)
        if record is not None:
            out.append(record)
    return out


def run(**options: Any) -> list[str]:
    return list(generate_lines(GeneratorConfig(**options)))


def test_deterministic_and_seeded() -> None:
    first = run(seed=7, events=20_000)
    assert first == run(seed=7, events=20_000)
    assert first != run(seed=8, events=20_000)
    assert len(first) == 20_000
    assert all("\n" not in line for line in first)
    # A longer run starts with the shorter one.
    assert run(seed=7, events=25_000)[:20_000] == first


def test_event_count() -> None:
    assert run(events=0) == []
    assert len(run(events=1)) == 1
    unbounded = generate_lines(GeneratorConfig(events=None))
    assert len(list(itertools.islice(unbounded, 30_000))) == 30_000


def test_mix() -> None:
    records = valid_records(run(seed=1, events=50_000))
    types = Counter(r["type"] for r in records)
    total = sum(types.values())
    assert 0.80 < types["pageview"] / total < 0.90
    assert 0.06 < types["usersession"] / total < 0.10
    assert 0.05 < types["user"] / total < 0.09
    sources = Counter(r["source"] for r in records if r["type"] == "pageview")
    assert set(sources) == set(SOURCES)
    assert sources["Homepage"] > sources["Inbox"] > sources["External"]  # uneven weights
    assert {r["device"] for r in records if r["type"] == "usersession"} == set(DEVICES)


def test_timestamp_formats() -> None:
    stamps = [
        r["event_timestamp"]
        for r in valid_records(run(seed=2, events=20_000))
        if r["type"] == "pageview"
    ]
    plain = sum(isinstance(s, str) and len(s) == 19 and s[10] == " " for s in stamps)
    epoch = sum(isinstance(s, int) for s in stamps)
    iso = [s for s in stamps if isinstance(s, str) and "T" in s]
    assert 0.65 < plain / len(stamps) < 0.75
    assert 0.10 < epoch / len(stamps) < 0.20
    assert 0.10 < len(iso) / len(stamps) < 0.20
    assert any(s.endswith("Z") for s in iso)
    assert any(s.endswith("+05:30") for s in iso) and any(s.endswith("-05:00") for s in iso)
    assert plain + epoch + len(iso) == len(stamps)


def test_users_change_get_incomplete_deleted_and_come_back() -> None:
    users = [r for r in valid_records(run(seed=3, events=100_000)) if r["type"] == "user"]
    upserts = [u for u in users if u["op"] == "upsert"]
    fields = ("age", "gender", "country", "subscription")
    incomplete = [u for u in upserts if any(u[f] is None for f in fields)]
    assert 0.02 < len(incomplete) / len(upserts) < 0.08
    complete = [u for u in upserts if u not in incomplete]
    assert all(16 <= u["age"] <= 80 and u["gender"] in ("M", "F", "X") for u in complete)
    assert 8 <= len({u["country"] for u in complete}) <= 15

    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for u in users:
        history[u["user_id"]].append(u)
    changed_country = changed_subscription = comebacks = deleted = 0
    for versions in history.values():
        full = [v for v in versions if v["op"] == "delete" or v not in incomplete]
        for before, after in itertools.pairwise(full):
            if before["op"] == "delete" and after["op"] == "upsert":
                comebacks += 1
            elif before["op"] == after["op"] == "upsert":
                changed_country += before["country"] != after["country"]
                changed_subscription += before["subscription"] != after["subscription"]
        deleted += any(v["op"] == "delete" for v in versions)
    assert changed_country > 100 and changed_subscription > 100
    assert deleted > 20 and comebacks > 5


def test_first_upsert_comes_with_first_activity() -> None:
    first_upsert: dict[int, int] = {}
    first_view: dict[int, int] = {}
    for seq, r in enumerate(valid_records(run(seed=4, events=50_000))):
        if r["type"] == "user" and r["op"] == "upsert":
            first_upsert.setdefault(r["user_id"], seq)
        elif r["type"] == "pageview":
            first_view.setdefault(r["user_id"], seq)
    before = sum(u in first_upsert and first_upsert[u] < seq for u, seq in first_view.items())
    assert before / len(first_view) > 0.9
    assert len(first_upsert) < len(first_view)  # a few users never get a profile


def test_every_malformed_kind_appears() -> None:
    lines = run(seed=5, events=20_000, malformed_fraction=0.02)
    reasons = Counter(classify(line)[0] for line in lines)
    assert set(reasons) == {
        "ok",
        "not_json",
        "not_object",
        "unknown_type",
        "missing_field",
        "wrong_type",
        "bad_enum",
        "bad_timestamp",
        "too_old",
        "too_far_ahead",
        "too_long",
    }
    bad = len(lines) - reasons["ok"]
    assert 300 < bad < 500
    # The wrong types cover a string and a float user_id and a string age.
    assert any('"user_id":"abc"' in line for line in lines)
    assert any('"user_id":1.5' in line for line in lines)
    assert any('"age":"old"' in line for line in lines)


def test_no_malformed_lines_when_fraction_is_zero() -> None:
    lines = run(seed=6, events=20_000, malformed_fraction=0.0)
    assert all(classify(line)[0] == "ok" for line in lines)


def test_disorder_stays_within_lateness_except_late_views() -> None:
    records = valid_records(run(seed=7, events=50_000, late_fraction=0.01))
    max_ms = -1
    late = out_of_order = views = 0
    for r in records:
        t_ms = event_ms(r)
        if r["type"] == "pageview":
            views += 1
            if t_ms < max_ms - LATENESS_MS:
                late += 1
                # Really late: far beyond the lateness, not just over it.
                assert t_ms < max_ms - LATENESS_MS - 5 * 60_000
                continue
            out_of_order += t_ms < max_ms
        else:
            assert t_ms >= max_ms - LATENESS_MS
        max_ms = max(max_ms, t_ms)
    assert 0.005 < late / views < 0.015
    assert out_of_order > views * 0.3


def test_no_late_views_when_fraction_is_zero() -> None:
    records = valid_records(run(seed=8, events=30_000, late_fraction=0.0))
    max_ms = -1
    for r in records:
        t_ms = event_ms(r)
        assert t_ms >= max_ms - LATENESS_MS
        max_ms = max(max_ms, t_ms)


def test_sessions_separate_per_user_and_per_stream() -> None:
    records = valid_records(run(seed=9, events=100_000, late_fraction=0.0))
    views = [r for r in records if r["type"] == "pageview"]
    logins = {r["session_id"]: r["user_id"] for r in records if r["type"] == "usersession"}
    # Every view belongs to a session whose login came before it, for the same user.
    seen_logins: dict[str, int] = {}
    for r in records:
        if r["type"] == "usersession":
            seen_logins[r["session_id"]] = r["user_id"]
        elif r["type"] == "pageview":
            assert seen_logins[r["session_id"]] == r["user_id"]
    assert len(logins) > 5_000

    per_user: dict[int, list[int]] = defaultdict(list)
    for r in views:
        per_user[r["user_id"]].append(event_ms(r))
    separated = 0
    for times in per_user.values():
        times.sort()
        separated += any(b - a > GAP_MS for a, b in itertools.pairwise(times))
    assert separated / len(per_user) > 0.9

    # The stream as a whole goes quiet now and then (100k lines at 20 ms: ~33 min).
    all_times = sorted(event_ms(r) for r in views)
    quiet = [b - a for a, b in itertools.pairwise(all_times) if b - a > GAP_MS]
    assert quiet and all(gap > GAP_MS + LATENESS_MS / 2 for gap in quiet)
    # Per source too, because the quiet periods are global.
    for source in SOURCES:
        times = sorted(event_ms(r) for r in views if r["source"] == source)
        assert any(b - a > GAP_MS for a, b in itertools.pairwise(times))


def test_sessions_are_bursts() -> None:
    records = valid_records(run(seed=10, events=50_000, late_fraction=0.0))
    per_session: dict[str, list[int]] = defaultdict(list)
    for r in records:
        if r["type"] == "pageview":
            per_session[r["session_id"]].append(event_ms(r))
    spans = [max(t) - min(t) for t in per_session.values() if len(t) > 1]
    assert max(spans) < 6 * 60_000  # a few minutes at most
    sizes = [len(t) for t in per_session.values()]
    assert 5 < sum(sizes) / len(sizes) < 20


def test_live_mode_uses_the_injected_clock() -> None:
    ticks = itertools.count()
    base_ms = 1_780_000_000_000  # 2026-05-28, before WALL_MS

    def fake_clock() -> int:
        return base_ms + 3 * next(ticks)

    live = list(
        generate_lines(
            GeneratorConfig(seed=11, events=5_000, late_fraction=0.0), clock_ms=fake_clock
        )
    )
    simulated = run(seed=11, events=5_000, late_fraction=0.0)
    assert next(ticks) >= 5_000  # the clock was read for every line
    last_ms = base_ms + 3 * next(ticks)
    live_records = valid_records(live)
    for r in live_records:
        assert base_ms - LATENESS_MS // 2 - 1_000 <= event_ms(r) <= last_ms
    # Only the timestamps differ from the simulated run.
    strip = {"event_timestamp", "login_timestamp", "updated_at"}
    assert [{k: v for k, v in r.items() if k not in strip} for r in live_records] == [
        {k: v for k, v in r.items() if k not in strip} for r in valid_records(simulated)
    ]


def test_write_jsonl(tmp_path: Path) -> None:
    config = GeneratorConfig(seed=12, events=250_000)
    calls: list[int] = []
    path = tmp_path / "data.jsonl"
    assert write_jsonl(config, path, progress=calls.append) == 250_000
    assert calls == [100_000, 200_000]
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert text.split("\n")[:-1] == list(generate_lines(config))

    small = GeneratorConfig(seed=12, events=10)
    stream = io.StringIO()
    assert write_jsonl(small, stream) == 10
    assert stream.getvalue() == "\n".join(generate_lines(small)) + "\n"


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    events=st.integers(0, 3_000),
    users=st.integers(1, 50),
    mean_gap_ms=st.integers(0, 5_000),
    lateness_ms=st.integers(0, 120_000),
)
def test_any_config_gives_valid_lines(
    seed: int, events: int, users: int, mean_gap_ms: int, lateness_ms: int
) -> None:
    lines = run(
        seed=seed,
        events=events,
        users=users,
        mean_gap_ms=mean_gap_ms,
        lateness_ms=lateness_ms,
        malformed_fraction=0.0,
    )
    assert len(lines) == events
    for line in lines:
        reason, record = classify(line)
        assert reason == "ok", line
        assert record is not None and 1 <= record["user_id"] <= users
