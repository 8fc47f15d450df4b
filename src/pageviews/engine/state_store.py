"""Engine state in memory, committed with every batch and rebuilt from the commit on restart.

Open windows and waiting page views are worked on in numpy (engine/open_windows.py); each
batch writes them back to the state_* tables in the batch's own transaction, so a crash loses
exactly what it loses of the results: the whole uncommitted batch, and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pageviews.engine.batch_rows import ints
from pageviews.engine.country_join import PendingViews
from pageviews.engine.key_codes import KeyCodes
from pageviews.engine.open_windows import OpenWindows
from pageviews.model.results import BIGINT, BY_CODE


def _new_windows() -> dict[str, OpenWindows]:
    return {code: OpenWindows(count_users=table.counts_users) for code, table in BY_CODE.items()}


def _has_int_key(view: str) -> bool:
    """Keys that are user ids stay int64; string keys become codes (KeyCodes)."""
    return BY_CODE[view].key_column.type == BIGINT


@dataclass
class EngineState:
    codes: KeyCodes = field(default_factory=KeyCodes)
    windows: dict[str, OpenWindows] = field(default_factory=_new_windows)
    pending: PendingViews = field(default_factory=PendingViews.none)

    def key_strings(self, view: str, keys: np.ndarray) -> pa.Array:
        if _has_int_key(view):
            return pc.cast(pa.array(keys, pa.int64()), pa.string())
        return self.codes.decode(keys)

    def key_codes(self, view: str, keys: pa.ChunkedArray) -> np.ndarray:
        if _has_int_key(view):
            return ints(pc.cast(keys, pa.int64()))
        return self.codes.encode(keys)


def load_state(con: duckdb.DuckDBPyConnection) -> EngineState:
    state = EngineState()
    for view, windows in state.windows.items():
        rows = con.sql(
            "SELECT key, ws, we, pv_count, age_sum, age_n FROM state_windows WHERE view = $view",
            params={"view": view},
        ).to_arrow_table()
        windows.key = state.key_codes(view, rows["key"])
        for name in ("ws", "we", "pv_count", "age_sum", "age_n"):
            setattr(windows, name, ints(rows[name]))
        users = con.sql(
            "SELECT DISTINCT key, ws, user_id FROM state_window_users WHERE view = $view",
            params={"view": view},
        ).to_arrow_table()
        if users.num_rows:
            windows.add_users(
                state.key_codes(view, users["key"]),
                ints(users["ws"]),
                ints(users["user_id"]),
            )
    pending = con.sql("SELECT seq, user_id, t FROM state_pending_country").to_arrow_table()
    state.pending.add(*(ints(pending[name]) for name in pending.column_names))
    return state


def save_state(
    con: duckdb.DuckDBPyConnection, state: EngineState, first_seq: int, watermark_ms: int
) -> None:
    """Write the state as it stands after the batch; call inside the batch's transaction."""
    window_parts: list[pa.Table] = []
    user_parts: list[pa.Table] = []
    for view, windows in state.windows.items():
        window_parts.append(
            pa.table(
                {
                    "view": pa.array([view] * len(windows), pa.string()),
                    "key": state.key_strings(view, windows.key),
                    **{
                        name: pa.array(getattr(windows, name), pa.int64())
                        for name in ("ws", "we", "pv_count", "age_sum", "age_n")
                    },
                }
            )
        )
        user_parts.append(
            pa.table(
                {
                    "view": pa.array([view] * len(windows.user_key), pa.string()),
                    "key": state.key_strings(view, windows.user_key),
                    "ws": pa.array(windows.user_ws, pa.int64()),
                    "user_id": pa.array(windows.user_id, pa.int64()),
                }
            )
        )
    _replace(con, "state_windows", pa.concat_tables(window_parts))
    _replace(con, "state_window_users", pa.concat_tables(user_parts))
    # Waiting page views: the released ones go, this batch's still waiting ones come.
    con.execute("DELETE FROM state_pending_country WHERE t <= ?", [watermark_ms])
    pending = state.pending
    new = pending.seq >= first_seq
    if new.any():
        rows = pa.table(
            {"seq": pending.seq[new], "user_id": pending.user[new], "t": pending.t[new]}
        )
        con.register("state_rows_arrow", rows)
        con.execute("INSERT INTO state_pending_country SELECT * FROM state_rows_arrow")
        con.unregister("state_rows_arrow")


def _replace(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    con.execute(f"DELETE FROM {table}")  # noqa: S608 - our own table names
    if rows.num_rows:
        con.register("state_rows_arrow", rows)
        con.execute(f"INSERT INTO {table} SELECT * FROM state_rows_arrow")  # noqa: S608
        con.unregister("state_rows_arrow")
