"""Names of the five windowed views: short codes inside engine state, table names outside.

Engine state tables key every row by view. DuckDB stores strings of up to 12 bytes inline, so
short codes make the hashing and sorting of those rows cheaper than full table names would.
"""

from __future__ import annotations

TUMBLING = "tumbling"
HOPPING = "hopping"
SESSION = "session"
USER_SESSION = "user"
COUNTRY = "country"

# Code -> result table (and late_events.view).
TABLES = {
    TUMBLING: "pageview_tumbling",
    HOPPING: "pageview_hopping",
    SESSION: "pageview_session",
    USER_SESSION: "user_sessions",
    COUNTRY: "pageview_country",
}
