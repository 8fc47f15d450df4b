"""Output formats of `pageviews query`: CSV gives every float back exactly."""

from __future__ import annotations

import csv
import io
import math

from pageviews.store.base import QueryResult
from pageviews.store.query import format_result

# Each needs more than 6 significant digits, or an exponent, to come back exactly.
FLOATS = [42.63636363636363, 0.1 + 0.2, 1 / 3, 1e-300, 1.7976931348623157e308, -2.5e-7, 1e16 + 2]


def test_csv_round_trips_every_float_exactly() -> None:
    result = QueryResult(["label", "value"], [(f"f{i}", v) for i, v in enumerate(FLOATS)])
    rows = list(csv.DictReader(io.StringIO(format_result(result, "csv"))))
    assert [float(row["value"]) for row in rows] == FLOATS


def test_csv_keeps_nan_infinities_and_nulls() -> None:
    result = QueryResult(["value"], [(math.inf,), (-math.inf,), (math.nan,), (None,)])
    values = [row["value"] for row in csv.DictReader(io.StringIO(format_result(result, "csv")))]
    assert values[:2] == ["inf", "-inf"] and math.isnan(float(values[2])) and values[3] == ""


def test_the_table_format_stays_short_for_eyes() -> None:
    table = format_result(QueryResult(["value"], [(42.63636363636363,)]), "table")
    assert "42.6364" in table and "42.636363" not in table
