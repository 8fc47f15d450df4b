from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Tests import the shared helpers module next to them.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Every test module belongs to exactly one tier, named by what it needs to run (the markers
# are registered in pyproject.toml). A tier is chosen with `-m`, never skipped because
# something is missing: `make test` runs them all, `make test-fast` the unit and e2e tiers.
#   unit:    in-process code only (no service, browser or CLI subprocess)
#   e2e:     the real CLI in subprocesses, embedded runtime
#   browser: the dashboard in headless Chromium
#   stack:   real Kafka, MariaDB, Connect, Flink and Pinot
TIER_OF_MODULE = {
    "test_canonical": "unit",
    "test_conformance": "unit",
    "test_dashboard_app": "unit",
    "test_docs": "unit",
    "test_engine_vs_oracle": "unit",
    "test_flink_sql": "unit",
    "test_generator": "unit",
    "test_http_client": "unit",
    "test_json_text": "unit",
    "test_jsonl": "unit",
    "test_oracle": "unit",
    "test_poison_pill": "unit",
    "test_query_format": "unit",
    "test_query_server": "unit",
    "test_settings": "unit",
    "test_validate": "unit",
    "test_validators_fuzz": "unit",
    "test_windows": "unit",
    "test_cli": "e2e",
    "test_cli_runtime": "e2e",
    "test_data_dir": "e2e",
    "test_user_errors": "e2e",
    "test_durability": "e2e",
    "test_query_endpoint_run": "e2e",
    "test_dashboard_browser": "browser",
    "test_flink": "stack",
    "test_pinot": "stack",
    "test_stack": "stack",
    "test_stack_e2e": "stack",
}
TIERS = frozenset(TIER_OF_MODULE.values())


# tryfirst: the tiers must be on the items before `-m` deselects by marker.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    untiered = sorted({item.path.stem for item in items} - TIER_OF_MODULE.keys())
    if untiered:
        raise pytest.UsageError(
            f"test modules without a tier: {', '.join(untiered)}; "
            f"give each one of {sorted(TIERS)} in TIER_OF_MODULE (tests/conftest.py)"
        )
    for item in items:
        marked = sorted({mark.name for mark in item.iter_markers()} & TIERS)
        if marked:
            raise pytest.UsageError(
                f"{item.nodeid} is marked {marked} in its module; tiers are set only in "
                "TIER_OF_MODULE (tests/conftest.py)"
            )
        item.add_marker(TIER_OF_MODULE[item.path.stem])
