-- Lateness is decided once, at arrival, against the watermark then (wm_ms). A window counts as
-- late when end - 1 <= wm_ms: the window operator has fired it by then (Flink fires at end - 1).
CREATE TEMPORARY VIEW pageviews_windows AS
SELECT *,
  t_ms - MOD(t_ms, {{tumbling_size_ms}}) AS tumbling_start,
  t_ms - MOD(t_ms, {{country_size_ms}}) AS country_start,
  t_ms - MOD(t_ms, {{hopping_step_ms}}) AS hopping_last_start
FROM pageviews;

CREATE TEMPORARY VIEW usersessions_windows AS
SELECT *, t_ms - MOD(t_ms, {{device_size_ms}}) AS device_start
FROM usersessions;

CREATE TEMPORARY VIEW late_events AS
SELECT 'pageview_tumbling' AS `view`, tumbling_start AS window_start, `raw`, event_partition,
  event_offset
FROM pageviews_windows WHERE tumbling_start + {{tumbling_size_ms}} - 1 <= wm_ms
UNION ALL
SELECT 'pageview_country', country_start, `raw`, event_partition, event_offset
FROM pageviews_windows WHERE country_start + {{country_size_ms}} - 1 <= wm_ms
UNION ALL
SELECT 'pageview_hopping', hop_start, `raw`, event_partition, event_offset
FROM pageviews_windows CROSS JOIN UNNEST(ARRAY[{{hopping_starts}}]) AS h(hop_start)
WHERE hop_start + {{hopping_size_ms}} - 1 <= wm_ms
UNION ALL
SELECT 'pageview_session', t_ms, `raw`, event_partition, event_offset
FROM pageviews_windows WHERE t_ms <= wm_ms
UNION ALL
SELECT 'user_sessions', t_ms, `raw`, event_partition, event_offset
FROM pageviews_windows WHERE t_ms <= wm_ms
UNION ALL
SELECT 'sessions_by_device', device_start, `raw`, event_partition, event_offset
FROM usersessions_windows WHERE device_start + {{device_size_ms}} - 1 <= wm_ms;

-- Fixed windows: one GROUP BY per view over insert-only input, the page views that are not late
-- and, per window, one row of its final counts from a window TVF (emitted once the watermark
-- passes its end). So each page view updates its window's row at once, and the row becomes final
-- with the TVF's counts; GREATEST keeps a final row as it is when a page view still in flight
-- arrives after it (counts only grow). No retractions, and no second aggregation to merge live
-- and final rows.
CREATE TEMPORARY VIEW tumbling_in AS
SELECT * FROM pageviews_windows WHERE tumbling_start + {{tumbling_size_ms}} - 1 > wm_ms;

CREATE TEMPORARY VIEW tumbling_rows AS
SELECT window_start, source,
  GREATEST(COUNT(user_id), COALESCE(MAX(final_count), 0)) AS pageview_count,
  GREATEST(COUNT(DISTINCT user_id), COALESCE(MAX(final_users), 0)) AS user_count,
  MAX(final_count) IS NOT NULL AS final
FROM (
  SELECT tumbling_start AS window_start, source, user_id,
    CAST(NULL AS BIGINT) AS final_count, CAST(NULL AS BIGINT) AS final_users
  FROM tumbling_in
  UNION ALL
  SELECT
    EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start),
    source, CAST(NULL AS BIGINT), COUNT(*), COUNT(DISTINCT user_id)
  FROM TABLE(TUMBLE(TABLE tumbling_in, DESCRIPTOR(ts), {{tumbling_size}}))
  GROUP BY window_start, window_end, source
)
GROUP BY window_start, source;

-- Hopping: a page view may be late for its oldest windows and still count in the newer ones.
CREATE TEMPORARY VIEW hopping_in AS
SELECT * FROM pageviews_windows WHERE hopping_last_start + {{hopping_size_ms}} - 1 > wm_ms;

CREATE TEMPORARY VIEW hopping_rows AS
SELECT window_start, source,
  GREATEST(COUNT(user_id), COALESCE(MAX(final_count), 0)) AS pageview_count,
  GREATEST(COUNT(DISTINCT user_id), COALESCE(MAX(final_users), 0)) AS user_count,
  MAX(final_count) IS NOT NULL AS final
FROM (
  SELECT hop_start AS window_start, source, user_id,
    CAST(NULL AS BIGINT) AS final_count, CAST(NULL AS BIGINT) AS final_users
  FROM hopping_in CROSS JOIN UNNEST(ARRAY[{{hopping_starts}}]) AS h(hop_start)
  WHERE hop_start + {{hopping_size_ms}} - 1 > wm_ms
  UNION ALL
  SELECT
    EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start),
    source, CAST(NULL AS BIGINT), COUNT(*), COUNT(DISTINCT user_id)
  FROM TABLE(HOP(TABLE hopping_in, DESCRIPTOR(ts), {{hopping_step}}, {{hopping_size}}))
  -- Each window of a page view that it is not late for, as above. At parallelism > 1 the
  -- window operator's watermark (the min over all sources) can lag the one that found the
  -- page view late for an older window, which would then count it too.
  WHERE EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start)
    + {{hopping_size_ms}} - 1 > wm_ms
  GROUP BY window_start, window_end, source
)
GROUP BY window_start, source;

-- Country: join each page view that is not late with its user as of its event time. The join
-- emits a page view once the watermark reaches it, so the country table lags by the lateness.
CREATE TEMPORARY VIEW country_joined AS
SELECT
  p.ts, p.user_id, p.country_start,
  CASE WHEN u.user_id IS NULL OR u.deleted THEN 'unknown' ELSE u.country END AS country,
  CASE WHEN u.user_id IS NULL OR u.deleted THEN CAST(NULL AS INT) ELSE u.age END AS age
FROM (SELECT * FROM pageviews_windows WHERE country_start + {{country_size_ms}} - 1 > wm_ms) AS p
LEFT JOIN users_versioned FOR SYSTEM_TIME AS OF p.ts AS u
ON p.user_id = u.user_id;

CREATE TEMPORARY VIEW country_rows AS
SELECT window_start, country,
  GREATEST(COUNT(user_id), COALESCE(MAX(final_count), 0)) AS pageview_count,
  GREATEST(COUNT(DISTINCT user_id), COALESCE(MAX(final_users), 0)) AS user_count,
  GREATEST(COALESCE(SUM(age), 0), COALESCE(MAX(final_age_sum), 0)) AS age_sum,
  GREATEST(COUNT(age), COALESCE(MAX(final_age_count), 0)) AS age_count,
  MAX(final_count) IS NOT NULL AS final
FROM (
  SELECT country_start AS window_start, country, user_id, CAST(age AS BIGINT) AS age,
    CAST(NULL AS BIGINT) AS final_count, CAST(NULL AS BIGINT) AS final_users,
    CAST(NULL AS BIGINT) AS final_age_sum, CAST(NULL AS BIGINT) AS final_age_count
  FROM country_joined
  UNION ALL
  SELECT
    EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start),
    country, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), COUNT(*), COUNT(DISTINCT user_id),
    CAST(COALESCE(SUM(age), 0) AS BIGINT), COUNT(age)
  FROM TABLE(TUMBLE(TABLE country_joined, DESCRIPTOR(ts), {{country_size}}))
  GROUP BY window_start, window_end, country
)
GROUP BY window_start, country;

-- Sessions are final-only: a TVF session row is emitted once the watermark passes its end.
CREATE TEMPORARY VIEW sessions_in AS
SELECT * FROM pageviews_windows WHERE t_ms > wm_ms;

CREATE TEMPORARY VIEW session_rows AS
SELECT
  EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start)
    AS window_start,
  EXTRACT(EPOCH FROM window_end) * 1000 + EXTRACT(MILLISECOND FROM window_end) AS window_end,
  source, COUNT(*) AS pageview_count, COUNT(DISTINCT user_id) AS user_count
FROM TABLE(SESSION(
  TABLE sessions_in PARTITION BY source,
  DESCRIPTOR(ts), {{session_gap}}))
GROUP BY window_start, window_end, source;

CREATE TEMPORARY VIEW user_session_rows AS
SELECT
  user_id,
  EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start)
    AS window_start,
  EXTRACT(EPOCH FROM window_end) * 1000 + EXTRACT(MILLISECOND FROM window_end) AS window_end,
  COUNT(*) AS pageview_count
FROM TABLE(SESSION(
  TABLE sessions_in PARTITION BY user_id,
  DESCRIPTOR(ts), {{user_gap}}))
GROUP BY window_start, window_end, user_id;

-- Logins by device: tumbling windows of login time, final and live rows as for page views.
CREATE TEMPORARY VIEW device_in AS
SELECT * FROM usersessions_windows WHERE device_start + {{device_size_ms}} - 1 > wm_ms;

CREATE TEMPORARY VIEW device_rows AS
SELECT window_start, device,
  GREATEST(COUNT(user_id), COALESCE(MAX(final_count), 0)) AS login_count,
  GREATEST(COUNT(DISTINCT user_id), COALESCE(MAX(final_users), 0)) AS user_count,
  MAX(final_count) IS NOT NULL AS final
FROM (
  SELECT device_start AS window_start, device, user_id,
    CAST(NULL AS BIGINT) AS final_count, CAST(NULL AS BIGINT) AS final_users
  FROM device_in
  UNION ALL
  SELECT
    EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start),
    device, CAST(NULL AS BIGINT), COUNT(*), COUNT(DISTINCT user_id)
  FROM TABLE(TUMBLE(TABLE device_in, DESCRIPTOR(ts), {{device_size}}))
  GROUP BY window_start, window_end, device
)
GROUP BY window_start, device;
