"""The streaming engine against the independent batch oracle, on generated data.

Batch size must not change any result: micro-batches are an implementation detail, so one huge
batch, small batches and odd-sized batches must all equal the oracle.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import result_snapshot
from pageviews.check.diff import compare, format_diffs
from pageviews.config import WindowConfig
from pageviews.pipeline import RunOptions, run_pipeline
from pageviews.sources.inputs import InputSpec
from pageviews.store.duckdb_store import connect


def _run(data_dir: Path, seed: int, events: int, batch_lines: int, config: WindowConfig) -> None:
    stats = run_pipeline(
        RunOptions(
            input=InputSpec("generator", seed=seed, events=events, users=300),
            data_dir=data_dir,
            config=config,
            batch_lines=batch_lines,
        )
    )
    assert stats.ended and stats.lines == events


def _assert_matches_oracle(data_dir: Path, config: WindowConfig) -> None:
    con = connect(data_dir, read_only=True)
    try:
        diffs = compare(con, config)
    finally:
        con.close()
    assert all(d.ok for d in diffs), format_diffs(diffs)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_engine_matches_oracle_for_several_seeds(tmp_path: Path, seed: int) -> None:
    config = WindowConfig()
    _run(tmp_path, seed, 40_000, 7_000, config)
    _assert_matches_oracle(tmp_path, config)
    snapshot = result_snapshot(tmp_path)
    # The generated data really exercises late rows, dead letters and every view.
    for table in snapshot:
        assert snapshot[table], f"{table} is empty"


def test_small_windows_and_tiny_batches_match_oracle(tmp_path: Path) -> None:
    # Short windows close often, so finalisation and session merges happen in many batches.
    config = WindowConfig(
        lateness_ms=5_000,
        tumbling_ms=20_000,
        hopping_size_ms=30_000,
        hopping_step_ms=10_000,
        session_gap_ms=3_000,
        user_session_gap_ms=60_000,
        country_ms=15_000,
    )
    _run(tmp_path, 11, 6_000, 97, config)
    _assert_matches_oracle(tmp_path, config)


def test_batch_size_does_not_change_results(tmp_path: Path) -> None:
    config = WindowConfig()
    sizes = (1_000_000, 4_999, 333)
    for size in sizes:
        _run(tmp_path / str(size), 5, 20_000, size, config)
    snapshots = [result_snapshot(tmp_path / str(size)) for size in sizes]
    for table in snapshots[0]:
        assert snapshots[0][table] == snapshots[1][table] == snapshots[2][table], table
