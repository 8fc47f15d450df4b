"""Files that a command writes where the user says (--out, --stats-json): checked up front.

A missing folder or a directory in the way is a one-line error before anything runs, not a
traceback at the end of a run.
"""

from __future__ import annotations

import os
from pathlib import Path

from pageviews.errors import UsageError

FILE_MODE = 0o600


def check_output_file(path: Path, flag: str) -> None:
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a directory, not a file")
    folder = path.parent
    if not folder.is_dir():
        what = "is not a directory" if folder.exists() else "does not exist"
        raise UsageError(f"{flag} {path}: the folder {folder} {what}")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {path} is not writable")


def write_owner_only(path: Path, text: str, flag: str) -> None:
    """Write `text` to a file that only its owner can read (statistics of a run)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            out.write(text)
    except OSError as error:
        raise UsageError(f"cannot write {flag} {path}: {error.strerror or error}") from error
