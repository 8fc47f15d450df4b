"""The docs that can be checked mechanically stay true."""

from __future__ import annotations

from pathlib import Path

from pageviews.clidoc import render

REPO = Path(__file__).resolve().parent.parent


def test_cli_reference_is_generated_from_help() -> None:
    assert (REPO / "docs" / "cli.md").read_text() == render(), (
        "docs/cli.md is stale: run `.venv/bin/python -m pageviews.clidoc > docs/cli.md`"
    )


def test_readme_quickstart_has_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quickstart and "make test" in quickstart
