"""Publish window state into the result tables: one current row per (key, window_start).

Every batch rewrites the open (not final) rows of each view from state, then drops windows that
the watermark has closed from state: a final row never changes again, and closed windows leave
memory. Each column's SQL follows from what the catalogue says it holds (its measure).
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from pageviews.engine.state_store import EngineState
from pageviews.model.results import BIGINT, BY_CODE, Measure, ResultTable

# Each measure as SQL over the rows of one view's open windows (sw).
_MEASURE_SQL = {
    Measure.WINDOW_START: "make_timestamptz(sw.ws * 1000)",
    Measure.WINDOW_END: "make_timestamptz(sw.we * 1000)",
    Measure.KEY: "sw.key",
    Measure.COUNT: "sw.pv_count",
    Measure.USERS: "sw.users",
    Measure.AVERAGE_AGE: "CASE WHEN sw.age_n > 0 THEN sw.age_sum / sw.age_n END",
    Measure.IS_FINAL: "sw.we <= $watermark",
}


def _insert_sql(table: ResultTable) -> str:
    names = ", ".join(c.name for c in table.columns)
    values = ", ".join(_MEASURE_SQL[c.measure] for c in table.columns if c.measure is not None)
    # Only catalogue names and the SQL above are rendered.
    return f"INSERT INTO {table.name} ({names}) SELECT {values} FROM publish_arrow sw"  # noqa: S608


_INSERTS = {code: _insert_sql(table) for code, table in BY_CODE.items()}


def publish(con: duckdb.DuckDBPyConnection, state: EngineState, watermark_ms: int) -> None:
    for view, insert in _INSERTS.items():
        table = BY_CODE[view]
        windows = state.windows[view]
        con.execute(f"DELETE FROM {table.name} WHERE NOT is_final")  # noqa: S608 - our names
        if len(windows):
            int_key = table.key_column.type == BIGINT
            rows = pa.table(
                {
                    "key": (
                        pa.array(windows.key, pa.int64())
                        if int_key
                        else state.key_strings(view, windows.key)
                    ),
                    "ws": windows.ws,
                    "we": windows.we,
                    "pv_count": windows.pv_count,
                    "users": windows.user_counts(),
                    "age_sum": windows.age_sum,
                    "age_n": windows.age_n,
                }
            )
            con.register("publish_arrow", rows)
            con.execute(insert, {"watermark": watermark_ms})
            con.unregister("publish_arrow")
        windows.drop_closed(watermark_ms)
