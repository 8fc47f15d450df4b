"""No poison pill: a line that fails its batch's processing is set aside as a dead letter, the
rest of the batch is committed, and a restart never stops at that line again (issue #12;
docs/semantics.md, section 10).

The failure is injected into one engine step, and it depends on the line's content (its
session id), so it follows the line through the splitting of its batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from helpers import result_snapshot
from pageviews.check.run import check_data_dir
from pageviews.engine import processor
from pageviews.engine.isolation import caused_by_input, failure_reason, isolate
from pageviews.engine.publish import publish as publish_results
from pageviews.engine.views import update_window_views
from pageviews.pipeline import RunOptions, RunStats, run_pipeline
from pageviews.sources.generator import GeneratorConfig, generate_lines
from pageviews.sources.inputs import InputSpec
from pageviews.store.duckdb_store import DB_FILE

EVENTS = 12_000
BATCH_LINES = 5_000
POISON = "poison-pill"
# A page view that only the validation refuses: the same seqs as the poison line, no record.
REFUSED = '{"type":"pageview","session_id":"' + POISON + '"}'


class Injected(ValueError):
    """The failure our hook raises for the poison line."""


def _lines() -> list[str]:
    return list(generate_lines(GeneratorConfig(seed=31, events=EVENTS, users=300)))


def _poisoned(lines: list[str], at: int) -> tuple[list[str], int]:
    """The lines with the page view nearest to `at` (or the last one) given the poison id."""
    order = range(at, len(lines)) if at >= 0 else range(len(lines) - 1, -1, -1)
    index = next(i for i in order if '"type":"pageview"' in lines[i] and "session_id" in lines[i])
    record = json.loads(lines[index])
    record["session_id"] = POISON
    poisoned = list(lines)
    poisoned[index] = json.dumps(record, separators=(",", ":"))
    return poisoned, index


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def _run(events: Path, data_dir: Path, batch_lines: int = BATCH_LINES) -> RunStats:
    return run_pipeline(
        RunOptions(
            input=InputSpec("file", path=str(events)), data_dir=data_dir, batch_lines=batch_lines
        )
    )


class Hook:
    """Wraps the engine's window step: raises `error` while the poison line is in a batch,
    and a simulated kill (KeyboardInterrupt) at the `kill_at`-th call after the first poison
    failure."""

    def __init__(self, error: BaseException | None = None, kill_at: int | None = None) -> None:
        self.error = Injected(f"injected failure on session {POISON}") if error is None else error
        self.kill_at = kill_at
        self.failures = 0
        self.calls_since_failure = 0
        self.inner = update_window_views

    def __call__(self, parsed: Any, *args: Any) -> None:
        if self.failures:
            self.calls_since_failure += 1
            if self.calls_since_failure == self.kill_at:
                raise KeyboardInterrupt
        if POISON in parsed.valid["session_id"].to_pylist():
            self.failures += 1
            raise self.error
        self.inner(parsed, *args)


@pytest.fixture
def hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[Hook]:
    injected = Hook()
    monkeypatch.setattr(processor, "update_window_views", injected)
    yield injected


def _dead_letters(data_dir: Path) -> list[tuple[int, str, str]]:
    con = duckdb.connect(str(data_dir / DB_FILE), read_only=True)
    try:
        return con.execute("SELECT seq, reason, raw FROM dead_letters ORDER BY seq").fetchall()
    finally:
        con.close()


def _counts(data_dir: Path) -> dict[str, int]:
    con = duckdb.connect(str(data_dir / DB_FILE), read_only=True)
    try:
        tables = ("raw_pageviews", "raw_usersessions", "raw_users", "raw_ticks", "dead_letters")
        return {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}  # noqa: S608
    finally:
        con.close()


def _assert_like_reference(data_dir: Path, reference: Path, poison_seq: int) -> None:
    """Every result equals the run in which the poison line was refused by validation; the
    poison line is one dead letter, naming the failure; the oracle agrees."""
    ours, theirs = result_snapshot(data_dir), result_snapshot(reference)
    # Dead letters hold the raw line and its reason: the poison line's differ.
    ours_dead, theirs_dead = (
        {row[-1]: row for row in snapshot.pop("dead_letters")} for snapshot in (ours, theirs)
    )
    assert ours == theirs
    assert _counts(data_dir) == _counts(reference)
    raw, reason, _ = ours_dead.pop(poison_seq)
    assert reason.startswith("processing failed: Injected: injected failure on session "), reason
    assert POISON in raw
    del theirs_dead[poison_seq]
    assert ours_dead == theirs_dead
    report, ok = check_data_dir(data_dir)
    assert ok, report


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return _lines()


# The poison line: early in the first batch, in the middle of one, and the input's last page
# view (its batch carries the end-of-input tick).
@pytest.mark.parametrize("at", [0, 7_321, -1], ids=["first", "middle", "last"])
def test_a_line_that_fails_processing_becomes_a_dead_letter(
    tmp_path: Path, hook: Hook, lines: list[str], at: int
) -> None:
    poisoned, index = _poisoned(lines, at)
    reference = tmp_path / "reference"
    refused = list(poisoned)
    refused[index] = REFUSED
    _run(_write(tmp_path / "refused.jsonl", refused), reference)

    stats = _run(_write(tmp_path / "poisoned.jsonl", poisoned), tmp_path / "run")
    assert stats.ended and stats.lines == len(lines)
    assert (stats.failed, hook.failures > 1) == (1, True)
    _assert_like_reference(tmp_path / "run", reference, index)

    # A restart does nothing more: the input is complete, nothing is counted twice.
    again = _run(tmp_path / "poisoned.jsonl", tmp_path / "run")
    assert again.already_complete
    _assert_like_reference(tmp_path / "run", reference, index)


@pytest.mark.parametrize("kill_at", [1, 4, 9, 15])
def test_a_kill_while_isolating_resumes_exactly_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], kill_at: int
) -> None:
    """A kill between the parts of a batch (before or after the poison line is set aside):
    the restart goes on from the last part committed, and never stops at the poison line."""
    poisoned, index = _poisoned(lines, 7_321)
    refused = list(poisoned)
    refused[index] = REFUSED
    reference = tmp_path / "reference"
    _run(_write(tmp_path / "refused.jsonl", refused), reference)
    events = _write(tmp_path / "poisoned.jsonl", poisoned)

    killer = Hook(kill_at=kill_at)
    monkeypatch.setattr(processor, "update_window_views", killer)
    with pytest.raises(KeyboardInterrupt):
        _run(events, tmp_path / "run")
    # The poison still poisons after the restart: it is the line, not the process.
    monkeypatch.setattr(processor, "update_window_views", Hook())
    stats = _run(events, tmp_path / "run")
    assert stats.ended and not stats.already_complete
    _assert_like_reference(tmp_path / "run", reference, index)


@pytest.mark.parametrize(
    "error",
    [
        duckdb.IOException("IO Error: could not write to the database file"),
        duckdb.FatalException("FATAL Error: database has been invalidated"),
        OSError(28, "No space left on device"),
        MemoryError(),
        KeyboardInterrupt(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_a_failure_that_is_not_the_inputs_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], error: BaseException
) -> None:
    poisoned, index = _poisoned(lines, 7_321)
    monkeypatch.setattr(processor, "update_window_views", Hook(error))
    with pytest.raises(type(error)):
        _run(_write(tmp_path / "poisoned.jsonl", poisoned), tmp_path / "run")
    # Nothing of the failing batch is committed, and nothing became a dead letter for it.
    con = duckdb.connect(str(tmp_path / "run" / DB_FILE), read_only=True)
    try:
        [(next_seq,)] = con.execute(
            "SELECT value FROM state_meta WHERE key = 'next_seq'"
        ).fetchall()
    finally:
        con.close()
    assert int(next_seq) == index // BATCH_LINES * BATCH_LINES
    assert not any(
        "processing failed" in reason for _, reason, _ in _dead_letters(tmp_path / "run")
    )


def test_a_failure_that_does_not_depend_on_the_line_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str]
) -> None:
    """A batch that fails even with its failing line set aside: the line is not the cause."""
    poisoned, _ = _poisoned(lines, 7_321)
    poison_hook = Hook()
    inner = publish_results

    def publish(*args: Any) -> None:
        # Once the poison line has failed, every batch fails here, with or without it.
        if poison_hook.failures:
            raise Injected("fails whatever the lines")
        inner(*args)

    monkeypatch.setattr(processor, "update_window_views", poison_hook)
    monkeypatch.setattr(processor, "publish", publish)
    with pytest.raises(Injected, match="fails whatever the lines"):
        _run(_write(tmp_path / "poisoned.jsonl", poisoned), tmp_path / "run")


def test_isolate_sets_aside_exactly_the_failing_lines() -> None:
    """The splitting alone, over a fake batch: every failing line set aside, every other
    committed once, in input order, in few parts."""
    bad = {3, 4, 77, 99}
    count = 100
    committed: list[tuple[int, int, str | None]] = []

    def run_part(start: int, stop: int, reason: str | None) -> tuple[int, int]:
        if reason is None and bad & set(range(start, stop)):
            raise Injected(f"line {min(bad & set(range(start, stop)))}")
        committed.append((start, stop, reason))
        return start, stop

    parts = isolate(count, Injected("line 3"), run_part)
    assert parts == [(start, stop) for start, stop, _ in committed]
    covered = [line for start, stop, _ in committed for line in range(start, stop)]
    assert covered == list(range(count))
    assert {start for start, _, reason in committed if reason is not None} == bad
    assert all(
        reason.startswith("processing failed: Injected: line ")
        for *_, reason in committed
        if reason
    )
    assert len(committed) <= 4 * 2 * 7  # about two parts per level per failing line


def test_which_failures_are_the_inputs() -> None:
    assert caused_by_input(ValueError("('pageview', 'upsert') is not in list"))
    assert caused_by_input(duckdb.ConversionException("Conversion Error"))
    assert caused_by_input(duckdb.InvalidInputException("Malformed JSON"))
    for error in (
        duckdb.IOException("x"),
        duckdb.TransactionException("x"),
        duckdb.InternalException("x"),
        OSError("x"),
        MemoryError(),
        KeyboardInterrupt(),
        SystemExit(1),
    ):
        assert not caused_by_input(error), error


def test_the_reason_names_the_failure_on_one_short_line() -> None:
    assert failure_reason(Injected("bad\n  value")) == "processing failed: Injected: bad value"
    assert failure_reason(KeyError()) == "processing failed: KeyError"
    long = failure_reason(ValueError("x" * 10_000))
    assert len(long) < 250 and long.endswith("...")
