"""Compare the engine's result tables with the oracle's expected tables, as multisets."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from pageviews.check.oracle import expected_tables
from pageviews.config import WindowConfig

# Sample rows shown per direction.
SAMPLE_ROWS = 5

# Averages are summed in different orders by the engine and the oracle: compare them rounded.
_ROUNDED_COLUMNS = {"average_age": 9}


@dataclass
class TableDiff:
    """Rows of one table in the expected table but not the result (`missing`), and vice versa.

    `sample` holds up to SAMPLE_ROWS rows each way, prefixed "- " (missing) or "+ " (unexpected).
    """

    table: str
    missing: int
    unexpected: int
    sample: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.unexpected == 0


def compare(con: duckdb.DuckDBPyConnection, config: WindowConfig) -> list[TableDiff]:
    """Recompute every result table with the oracle and diff it against the stored one."""
    return compare_tables(con, expected_tables(con, config))


def compare_tables(
    con: duckdb.DuckDBPyConnection, expected: dict[str, str], schema: str = "main"
) -> list[TableDiff]:
    """Diff `<schema>.<table>` against its expected table, for each {table: expected}."""
    return [
        _compare_table(con, f"{schema}.{table}", table_expected, label=table)
        for table, table_expected in expected.items()
    ]


def _compare_table(
    con: duckdb.DuckDBPyConnection, table: str, expected: str, label: str
) -> TableDiff:
    # The expected table's columns are the ones to compare: for late_events that leaves out
    # `raw`, which the oracle cannot recompute.
    columns = [row[0] for row in con.execute(f"DESCRIBE {expected}").fetchall()]
    select_list = ", ".join(
        f"round({name}, {_ROUNDED_COLUMNS[name]}) AS {name}" if name in _ROUNDED_COLUMNS else name
        for name in columns
    )
    counts: list[int] = []
    sample: list[str] = []
    for marker, left, right in (("- ", expected, table), ("+ ", table, expected)):
        # Multiset difference: a row twice in one table and once in the other is one row off.
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE oracle_diff AS
            SELECT {select_list} FROM {left}
            EXCEPT ALL
            SELECT {select_list} FROM {right}
            """  # noqa: S608 -- table and column names come from the schema, not from input
        )
        count_row = con.execute("SELECT count(*) FROM oracle_diff").fetchone()
        counts.append(0 if count_row is None else int(count_row[0]))
        rows = con.execute(
            "SELECT * FROM oracle_diff ORDER BY ALL LIMIT ?", [SAMPLE_ROWS]
        ).fetchall()
        sample.extend(marker + _format_row(columns, row) for row in rows)
    con.execute("DROP TABLE oracle_diff")
    return TableDiff(table=label, missing=counts[0], unexpected=counts[1], sample=sample)


def _format_row(columns: list[str], row: tuple[object, ...]) -> str:
    return ", ".join(f"{name}={value}" for name, value in zip(columns, row, strict=True))


def format_diffs(diffs: list[TableDiff]) -> str:
    """A readable report: one line per table (OK or counts), then sample rows each way."""
    width = max((len(diff.table) for diff in diffs), default=0)
    lines: list[str] = []
    for diff in diffs:
        if diff.ok:
            lines.append(f"{diff.table:<{width}}  OK")
            continue
        lines.append(
            f"{diff.table:<{width}}  MISMATCH: {diff.missing} missing (expected, not in result), "
            f"{diff.unexpected} unexpected (in result, not expected)"
        )
        lines.extend(f"    {row}" for row in diff.sample)
    failed = sum(not diff.ok for diff in diffs)
    lines.append("all tables match" if failed == 0 else f"{failed} of {len(diffs)} tables differ")
    return "\n".join(lines)
