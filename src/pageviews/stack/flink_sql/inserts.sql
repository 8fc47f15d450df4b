-- One statement set. The fixed-window views are one row per key and window (windows.sql).
INSERT INTO dead_letters_out SELECT * FROM dead_letters;

INSERT INTO late_events_out SELECT * FROM late_events;

INSERT INTO cleaned_users_out SELECT * FROM cleaned_users;

INSERT INTO pageview_tumbling_out
SELECT window_start, window_start + {{tumbling_size_ms}}, source, pageview_count, user_count, final
FROM tumbling_rows;

INSERT INTO pageview_hopping_out
SELECT window_start, window_start + {{hopping_size_ms}}, source, pageview_count, user_count, final
FROM hopping_rows;

INSERT INTO pageview_country_out
SELECT window_start, window_start + {{country_size_ms}}, country, pageview_count, user_count,
  CASE WHEN age_count > 0 THEN CAST(age_sum AS DOUBLE) / age_count END, final
FROM country_rows;

INSERT INTO pageview_session_out
SELECT window_start, window_end, source, pageview_count, user_count, TRUE FROM session_rows;

INSERT INTO user_sessions_out
SELECT user_id, window_start, window_end, pageview_count, TRUE FROM user_session_rows;

INSERT INTO sessions_by_device_out
SELECT window_start, window_start + {{device_size_ms}}, device, login_count, user_count, final
FROM device_rows;
