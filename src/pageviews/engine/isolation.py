"""A batch that fails because of what is in it: its failing lines are found and set aside.

The rule (docs/semantics.md, section 10): when processing a batch raises an exception that is
the input's fault, the batch is rolled back and run again in parts, each part in its own
transaction, in input order: first the whole range, and if it fails, its two halves, down to
single lines. A single line that still fails is set aside: it is committed as a dead letter
whose reason names the failure, and the next part goes on from the state after it. A part that
succeeds is committed with the input position after its last line, so a crash between parts
resumes exactly there. The batch's tick and final position go with its last part.

An exception is the input's fault unless it says the process or the database is in trouble:
`caused_by_input`. Those, and anything that is not an `Exception` (Ctrl-C, SystemExit), stop
the run as they always did. So does a part that fails with its one line set aside: then the
failure does not depend on that line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import duckdb

from pageviews.model import reasons

# Exceptions that are never the input's fault: memory, files and disks, a database that is
# invalidated, interrupted, closed or inconsistent, and DuckDB's own internal errors.
NOT_THE_INPUT: tuple[type[BaseException], ...] = (
    MemoryError,
    OSError,
    duckdb.IOException,
    duckdb.FatalException,
    duckdb.InternalException,
    duckdb.InterruptException,
    duckdb.OutOfMemoryException,
    duckdb.ConnectionException,
    duckdb.PermissionException,
    duckdb.TransactionException,
)


def caused_by_input(error: BaseException) -> bool:
    """Whether a failure of processing may come from the lines of the batch."""
    return isinstance(error, Exception) and not isinstance(error, NOT_THE_INPUT)


def failure_reason(error: BaseException) -> str:
    """The dead-letter reason of a line set aside: the exception's type and message."""
    message = " ".join(str(error).split())
    slot = type(error).__name__ + (f": {message}" if message else "")
    if len(slot) > reasons.FAILURE_WIDTH:
        slot = slot[: reasons.FAILURE_WIDTH - 3] + "..."
    return reasons.PROCESSING_FAILED.text(slot)


R = TypeVar("R")
# Runs lines [start, stop) of the batch in one transaction and commits them. With a reason,
# the part is one line, which is set aside as a dead letter with that reason.
PartRunner = Callable[[int, int, str | None], R]


def isolate(count: int, error: Exception, run_part: PartRunner[R]) -> list[R]:
    """Run the `count` lines of a batch that failed with `error` in parts, setting aside each
    line that fails alone; the results of the parts, in input order.

    Raises the first failure that is not the input's fault, or that happens with its line set
    aside."""
    if not count or not caused_by_input(error):
        raise error
    results: list[R] = []
    # Ranges still to run, the next one last; a range known to fail carries its failure.
    todo: list[tuple[int, int, Exception | None]] = [(0, count, error)]
    while todo:
        start, stop, failure = todo.pop()
        if failure is None:
            try:
                results.append(run_part(start, stop, None))
                continue
            except Exception as part_failure:
                if not caused_by_input(part_failure):
                    raise
                failure = part_failure
        if stop - start == 1:
            results.append(run_part(start, stop, failure_reason(failure)))
            continue
        middle = (start + stop) // 2
        todo += [(middle, stop, None), (start, middle, None)]
    return results
