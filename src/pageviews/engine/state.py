"""The engine's own tables, kept in the same DuckDB file as the results.

Keeping state next to the results lets one transaction commit input position, state and
results together: a crash leaves either the whole micro-batch or none of it. The engine works
on an in-memory copy (engine/state_store.py) and writes it back with every batch.
"""

from __future__ import annotations

# Sentinel for "no watermark yet": far below any event time, and safe to subtract from.
NO_WATERMARK_MS = -(2**62)

STATE_DDL = [
    # Open windows of every view, sessions included (end = last event + gap).
    """CREATE TABLE IF NOT EXISTS state_windows (
        view VARCHAR NOT NULL, key VARCHAR NOT NULL, ws BIGINT NOT NULL, we BIGINT NOT NULL,
        pv_count BIGINT NOT NULL, age_sum BIGINT NOT NULL, age_n BIGINT NOT NULL)""",
    # Users seen in each open window, for exact distinct counts (rewritten every batch).
    """CREATE TABLE IF NOT EXISTS state_window_users (
        view VARCHAR NOT NULL, key VARCHAR NOT NULL, ws BIGINT NOT NULL,
        user_id BIGINT NOT NULL)""",
    # Page views waiting for the watermark to reach their time before the country join.
    """CREATE TABLE IF NOT EXISTS state_pending_country (
        seq BIGINT NOT NULL, user_id BIGINT NOT NULL, t BIGINT NOT NULL)""",
    # User versions that can still matter (see user_versions.py).
    """CREATE TABLE IF NOT EXISTS state_user_versions (
        user_id BIGINT NOT NULL, updated_ms BIGINT NOT NULL, seq BIGINT NOT NULL,
        op VARCHAR NOT NULL, age INTEGER, gender VARCHAR, country VARCHAR, subscription VARCHAR)""",
]
