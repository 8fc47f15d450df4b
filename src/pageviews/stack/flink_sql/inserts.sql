-- One statement set. Live and final rows of a window are merged per (key, window_start): counts
-- only grow, so MAX never lets a stale live row overwrite the final one, and is_final stays.
INSERT INTO dead_letters_out SELECT * FROM dead_letters;

INSERT INTO late_events_out SELECT * FROM late_events;

INSERT INTO cleaned_users_out SELECT * FROM cleaned_users;

INSERT INTO pageview_tumbling_out
SELECT window_start, window_start + {{tumbling_size_ms}}, source, MAX(pageview_count),
  MAX(user_count), MAX(final) = 1
FROM tumbling_rows GROUP BY source, window_start;

INSERT INTO pageview_hopping_out
SELECT window_start, window_start + {{hopping_size_ms}}, source, MAX(pageview_count),
  MAX(user_count), MAX(final) = 1
FROM hopping_rows GROUP BY source, window_start;

INSERT INTO pageview_country_out
SELECT window_start, window_start + {{country_size_ms}}, country, MAX(pageview_count),
  MAX(user_count),
  CASE WHEN MAX(age_count) > 0 THEN CAST(MAX(age_sum) AS DOUBLE) / MAX(age_count) END,
  MAX(final) = 1
FROM country_rows GROUP BY country, window_start;

INSERT INTO pageview_session_out
SELECT window_start, window_end, source, pageview_count, user_count, TRUE FROM session_rows;

INSERT INTO user_sessions_out
SELECT user_id, window_start, window_end, pageview_count, TRUE FROM user_session_rows;

INSERT INTO sessions_by_device_out
SELECT window_start, window_start + {{device_size_ms}}, device, MAX(login_count),
  MAX(user_count), MAX(final) = 1
FROM device_rows GROUP BY device, window_start;
