"""The data dir is ours and stays ours (issue 12): a database of another program is refused
untouched, a database deleted under a run fails it, and everything is owner-only."""

from __future__ import annotations

import hashlib
import stat
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from helpers import REPO, pageviews
from pageviews.store.data_dir import FORMAT_KEY
from pageviews.store.duckdb_store import DB_FILE


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tables(path: Path) -> list[str]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(row[0] for row in con.execute("SHOW TABLES").fetchall())
    finally:
        con.close()


def test_a_database_of_another_program_is_refused_and_left_untouched(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    db = data_dir / DB_FILE
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE foo AS SELECT 42 AS answer")
    con.close()
    before = _digest(db)
    for command in (
        ["run", "--events", "100", "--no-dashboard"],
        ["query", "SELECT * FROM foo"],
        ["check"],
    ):
        result = pageviews(*command, "--data-dir", str(data_dir), check=False)
        assert result.returncode == 2, result.stderr
        assert "is not a pageviews database" in result.stderr
        assert "foo" in result.stderr and "Traceback" not in result.stderr
    assert _tables(db) == ["foo"]
    assert _digest(db) == before
    assert sorted(p.name for p in data_dir.iterdir()) == [DB_FILE]


def test_a_file_that_is_not_a_database_is_one_clean_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / DB_FILE).write_text("not a database\n")
    result = pageviews("run", "--events", "10", "--no-dashboard", "--data-dir", str(data_dir),
                       check=False)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot open {data_dir / DB_FILE}" in result.stderr
    assert (data_dir / DB_FILE).read_text() == "not a database\n"


def test_a_data_dir_of_an_older_pageviews_is_accepted_and_marked(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pageviews("run", "--events", "200", "--no-dashboard", "--data-dir", str(data_dir))
    con = duckdb.connect(str(data_dir / DB_FILE))
    con.execute("DELETE FROM state_meta WHERE key = ?", [FORMAT_KEY])  # as an older one made it
    con.close()
    result = pageviews("run", "--events", "200", "--no-dashboard", "--data-dir", str(data_dir))
    assert "already fully processed" in result.stderr
    con = duckdb.connect(str(data_dir / DB_FILE), read_only=True)
    marks = con.execute("SELECT value FROM state_meta WHERE key = ?", [FORMAT_KEY]).fetchall()
    con.close()
    assert marks == [("1",)]


def test_the_data_dir_and_its_files_are_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    stats = tmp_path / "stats.json"
    pageviews("run", "--events", "500", "--no-dashboard", "--data-dir", str(data_dir),
              "--stats-json", str(stats))  # fmt: skip
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = [path for path in data_dir.iterdir() if path.is_file()]
    assert data_dir / DB_FILE in files
    for path in [*files, stats]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_older_data_dir_readable_by_others_is_made_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    pageviews("run", "--events", "100", "--no-dashboard", "--data-dir", str(data_dir))
    data_dir.chmod(0o755)
    (data_dir / DB_FILE).chmod(0o644)
    pageviews("run", "--events", "100", "--no-dashboard", "--data-dir", str(data_dir))
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / DB_FILE).stat().st_mode) == 0o600


def test_a_database_deleted_during_a_run_fails_it_loudly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    db = data_dir / DB_FILE
    argv = ["run", "--no-dashboard", "--rate", "2000", "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        [sys.executable, "-m", "pageviews.cli", *argv],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not db.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # a few commits
        db.unlink()
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2, err
    assert f"the database file {db} was deleted during the run" in err
    assert "input complete" not in err and "Traceback" not in err
