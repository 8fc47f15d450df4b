-- The raw streams (raw_records.sql, once per record type) are rendered before this file.
-- Refused page views and user sessions, with the reason.
CREATE TEMPORARY VIEW dead_letters AS
SELECT * FROM pageviews_dead
UNION ALL
SELECT * FROM usersessions_dead;
