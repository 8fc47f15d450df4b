"""The docs that can be checked mechanically stay true."""

from __future__ import annotations

from pathlib import Path

from pageviews.clidoc import render
from pageviews.model.results import EMBEDDED, RESULT_TABLES

REPO = Path(__file__).resolve().parent.parent


def test_cli_reference_is_generated_from_help() -> None:
    assert (REPO / "docs" / "cli.md").read_text() == render(), (
        "docs/cli.md is stale: run `.venv/bin/python -m pageviews.clidoc > docs/cli.md`"
    )


def test_readme_quickstart_has_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quickstart and "make test" in quickstart


def test_every_result_table_is_documented_with_its_columns() -> None:
    """README and semantics.md list each catalogue table with its columns, in order."""
    for doc in ("README.md", "docs/semantics.md"):
        text = (REPO / doc).read_text()
        for table in RESULT_TABLES:
            columns = ", ".join(c.name for c in table.columns_of(EMBEDDED))
            rows = [line for line in text.splitlines() if line.startswith(f"| `{table.name}` |")]
            assert any(row.rstrip(" |").endswith(columns) for row in rows), (
                f"{doc} does not list {table.name} as {columns}"
            )
