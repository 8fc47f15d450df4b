"""User versions: the state behind the country join and cleaned_users.

Only versions that can still matter are kept: deletes and complete upserts (incomplete upserts
never count), one per (user, updated_at) (ties go to the later arrival), and of the versions
older than any page view that can still be applied, only each user's latest.

    cut = W - country window size        (every page view still to apply has t > cut)
    user 7:  v1(10)  v2(20)  v3(35) | v4(60)  v5(80)      cut = 40
    kept:                    v3     | v4      v5
"""

from __future__ import annotations

import duckdb

COMPLETE = (
    "(op = 'delete' OR (age IS NOT NULL AND gender IS NOT NULL "
    "AND country IS NOT NULL AND subscription IS NOT NULL))"
)
_COLUMNS = "user_id, updated_ms, seq, op, age, gender, country, subscription"


def stage_batch_versions(con: duckdb.DuckDBPyConnection, user_records: str) -> None:
    """batch_user_versions: this batch's versions that count, of its valid user records (SQL
    FROM text of our own, such as a table and a WHERE clause)."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE batch_user_versions AS
        SELECT {_COLUMNS} FROM {user_records} AND {COMPLETE}
        """  # noqa: S608 - constant SQL fragments only
    )


def absorb_batch_versions(con: duckdb.DuckDBPyConnection, cut_ms: int) -> None:
    """Add the batch's versions to state, refresh cleaned_users, and drop what cannot matter."""
    con.execute(
        f"INSERT INTO state_user_versions SELECT {_COLUMNS} FROM batch_user_versions"  # noqa: S608
    )
    con.execute(
        """
        DELETE FROM state_user_versions WHERE rowid IN (
            SELECT rowid FROM state_user_versions
            QUALIFY row_number() OVER (
                PARTITION BY user_id, greatest(updated_ms, $cut)
                ORDER BY updated_ms DESC, seq DESC) > 1)
        """,
        {"cut": cut_ms},
    )
    # cleaned_users: each user as of +infinity, i.e. their latest version, when not a delete.
    con.execute(
        """
        DELETE FROM cleaned_users
        WHERE user_id IN (SELECT DISTINCT user_id FROM batch_user_versions)
        """
    )
    con.execute(
        """
        INSERT INTO cleaned_users
        SELECT user_id, age, gender, country, subscription, make_timestamptz(updated_ms * 1000)
        FROM state_user_versions
        WHERE user_id IN (SELECT DISTINCT user_id FROM batch_user_versions)
        QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY updated_ms DESC, seq DESC) = 1
            AND op = 'upsert'
        """
    )
