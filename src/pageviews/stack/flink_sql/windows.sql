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

-- Final rows come from window TVFs (emitted once the watermark passes the end); live rows from
-- plain GROUP BYs on computed window starts (updated as page views arrive). Both count only
-- page views that are not late; the sinks' views below merge them per (key, window_start).
CREATE TEMPORARY VIEW tumbling_in AS
SELECT * FROM pageviews_windows WHERE tumbling_start + {{tumbling_size_ms}} - 1 > wm_ms;

CREATE TEMPORARY VIEW tumbling_rows AS
SELECT
  EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start)
    AS window_start,
  source, COUNT(*) AS pageview_count, COUNT(DISTINCT user_id) AS user_count, 1 AS final
FROM TABLE(TUMBLE(TABLE tumbling_in, DESCRIPTOR(ts), {{tumbling_size}}))
GROUP BY window_start, window_end, source
UNION ALL
SELECT tumbling_start, source, COUNT(*), COUNT(DISTINCT user_id), 0
FROM tumbling_in GROUP BY tumbling_start, source;

-- Hopping: a page view may be late for its oldest windows and still count in the newer ones.
CREATE TEMPORARY VIEW hopping_in AS
SELECT * FROM pageviews_windows WHERE hopping_last_start + {{hopping_size_ms}} - 1 > wm_ms;

CREATE TEMPORARY VIEW hopping_rows AS
SELECT
  EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start)
    AS window_start,
  source, COUNT(*) AS pageview_count, COUNT(DISTINCT user_id) AS user_count, 1 AS final
FROM TABLE(HOP(TABLE hopping_in, DESCRIPTOR(ts), {{hopping_step}}, {{hopping_size}}))
GROUP BY window_start, window_end, source
UNION ALL
SELECT hop_start, source, COUNT(*), COUNT(DISTINCT user_id), 0
FROM hopping_in CROSS JOIN UNNEST(ARRAY[{{hopping_starts}}]) AS h(hop_start)
WHERE hop_start + {{hopping_size_ms}} - 1 > wm_ms
GROUP BY hop_start, source;

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
SELECT
  EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start)
    AS window_start,
  country, COUNT(*) AS pageview_count, COUNT(DISTINCT user_id) AS user_count,
  CAST(COALESCE(SUM(age), 0) AS BIGINT) AS age_sum, COUNT(age) AS age_count, 1 AS final
FROM TABLE(TUMBLE(TABLE country_joined, DESCRIPTOR(ts), {{country_size}}))
GROUP BY window_start, window_end, country
UNION ALL
SELECT country_start, country, COUNT(*), COUNT(DISTINCT user_id),
  CAST(COALESCE(SUM(age), 0) AS BIGINT), COUNT(age), 0
FROM country_joined GROUP BY country_start, country;

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
SELECT
  EXTRACT(EPOCH FROM window_start) * 1000 + EXTRACT(MILLISECOND FROM window_start)
    AS window_start,
  device, COUNT(*) AS login_count, COUNT(DISTINCT user_id) AS user_count, 1 AS final
FROM TABLE(TUMBLE(TABLE device_in, DESCRIPTOR(ts), {{device_size}}))
GROUP BY window_start, window_end, device
UNION ALL
SELECT device_start, device, COUNT(*), COUNT(DISTINCT user_id), 0
FROM device_in GROUP BY device_start, device;
