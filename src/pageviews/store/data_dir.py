"""The data dir is ours and stays ours: checked before anything is written, owner-only, marked.

- `check_data_dir`: a path that cannot be a data dir (a file, under a file, unwritable) is a
  `StoreError` before any file is created.
- `make_data_dir`: the data dir is created mode 0700, and from then on this process creates
  owner-only files (umask 077): the database, its WAL, endpoint.json, logs, statistics.
- `claim_database`: a database that another program made is refused before any DDL. We mark
  the databases we create (`FORMAT_KEY` in state_meta); one of an older pageviews (only our
  tables, with state_meta) is accepted and marked.
- `DatabaseWatch`: the database file of a run must stay the one the run opened; deleted or
  replaced, the run fails loudly instead of writing into a file that nobody can read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import duckdb

from pageviews.errors import StoreError

DIR_MODE = 0o700
FILE_MODE = 0o600
UMASK = 0o077

# The state_meta key that marks a database as a pageviews data dir, and its format.
FORMAT_KEY = "pageviews_format"
FORMAT_VERSION = 1


def check_data_dir(data_dir: Path, what: str = "data dir") -> None:
    """Refuse a data dir (or another dir of ours) that cannot be one, creating nothing."""
    if data_dir.exists() and not data_dir.is_dir():
        raise StoreError(f"{what} {data_dir} is a file, not a directory")
    # The nearest part of the path that exists must be a directory that we may write in.
    existing = data_dir
    while not existing.exists():
        if existing.is_symlink():
            raise StoreError(f"{what} {data_dir}: {existing} is a broken symbolic link")
        parent = existing.parent
        if parent == existing:
            break
        existing = parent
    if not existing.is_dir():
        raise StoreError(f"{what} {data_dir}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StoreError(f"{what} {data_dir}: {existing} is not writable")


def make_data_dir(data_dir: Path) -> None:
    """Create the data dir owner-only (0700); files created from now on are owner-only too."""
    check_data_dir(data_dir)
    os.umask(UMASK)
    try:
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        if stat.S_IMODE(data_dir.stat().st_mode) != DIR_MODE:
            data_dir.chmod(DIR_MODE)
    except OSError as error:
        raise StoreError(f"cannot create data dir {data_dir}: {_reason(error)}") from error


def owner_only(path: Path) -> None:
    """Mode 0600 for a file of ours that an older pageviews may have made readable by others."""
    try:
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
            path.chmod(FILE_MODE)
    except OSError as error:
        raise StoreError(f"cannot make {path} owner-only: {_reason(error)}") from error


def _reason(error: OSError) -> str:
    if error.errno is not None and error.strerror:
        return error.strerror.lower() if error.errno != errno.EEXIST else "it exists"
    return str(error)


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_catalog = current_database() AND table_schema = 'main'"
    ).fetchall()
    return {row[0] for row in rows}


def is_marked(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute("SELECT value FROM state_meta WHERE key = ?", [FORMAT_KEY]).fetchall()
    return bool(rows)


def claim_database(
    con: duckdb.DuckDBPyConnection, path: Path, our_tables: set[str], *, read_only: bool
) -> bool:
    """Whether the database needs our DDL and mark (it is new, or of an older pageviews).

    Raises StoreError, having written nothing, when the database is not a pageviews one."""
    tables = _tables(con)
    if not tables:
        return not read_only  # a new, empty database: ours
    if "state_meta" in tables and is_marked(con):
        return False
    foreign = sorted(tables - our_tables)
    if "state_meta" in tables and not foreign:
        return not read_only  # an older pageviews: our tables only, without the mark yet
    shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
    what = f"it has tables that are not ours ({shown})" if foreign else "it has no pageviews state"
    raise StoreError(
        f"{path} is not a pageviews database ({what}); it was left untouched: "
        "use another --data-dir"
    )


def mark_statement() -> tuple[str, list[object]]:
    """The statement that marks a database as ours (run after the DDL, in its transaction)."""
    return (
        "INSERT OR REPLACE INTO state_meta VALUES (?, ?)",
        [FORMAT_KEY, str(FORMAT_VERSION)],
    )


class DatabaseWatch:
    """Notices when the database file is deleted or replaced under a running process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = self._identity()
        if self.identity is None:
            raise StoreError(f"{path} disappeared as it was opened")

    def _identity(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_dev, info.st_ino

    def check(self) -> None:
        """Raise StoreError unless the file is still the one that was opened."""
        now = self._identity()
        if now == self.identity:
            return
        what = "was deleted" if now is None else "was replaced by another file"
        raise StoreError(
            f"the database file {self.path} {what} during the run; what this run processed "
            "since then is lost (run again on a fresh --data-dir)"
        )
