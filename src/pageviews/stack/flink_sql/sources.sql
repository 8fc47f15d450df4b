-- Raw page views: one STRING per record, so that bad records can be told apart in SQL.
-- A record's event time is 0 unless its event_timestamp parses and is at most a day ahead
-- (older than 2000 is kept: too old to move the watermark). So only a record whose other
-- fields are bad can still move the watermark (cheaper than validating twice per record).
CREATE TEMPORARY TABLE pageviews_in (
  `raw` STRING,
  event_partition INT METADATA FROM 'partition' VIRTUAL,
  event_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  ts AS TO_TIMESTAMP_LTZ({{pageview_ms_in_range}}, 3),
  WATERMARK FOR ts AS ts - {{lateness}}
) WITH (
  'connector' = 'kafka',
  'topic' = '{{pageviews_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'properties.group.id' = '{{group_id}}',
  'properties.isolation.level' = 'read_committed',
  'scan.startup.mode' = 'earliest-offset',
  {{bounded}}
  {{pageviews_idle}}
  'format' = 'raw'
);

-- Each field parsed out of the record once; the checks and values below read only these. Two
-- views read it, so the planner computes it once (reuse-optimize-block-with-digest-enabled) and
-- does not merge its JSON calls into every expression that reads a column.
CREATE TEMPORARY VIEW pageviews_json AS
SELECT `raw`, event_partition, event_offset, ts, `raw` IS JSON OBJECT AS is_object,
  {{pageview_json_columns}}
FROM pageviews_in;

-- Valid page views with their event time (ms) and the watermark at their arrival.
CREATE TEMPORARY VIEW pageviews AS
SELECT
  `raw`,
  event_partition,
  event_offset,
  {{pageview_values}},
  ts,
  EXTRACT(EPOCH FROM ts) * 1000 + EXTRACT(MILLISECOND FROM ts) AS t_ms,
  -- Before the first watermark nothing is late.
  COALESCE(
    EXTRACT(EPOCH FROM CURRENT_WATERMARK(ts)) * 1000
      + EXTRACT(MILLISECOND FROM CURRENT_WATERMARK(ts)),
    -9223372036854775807
  ) AS wm_ms
FROM pageviews_json
WHERE {{pageview_reason}} IS NULL;


-- Raw user sessions, read and checked as page views are; a login's time is its event time.
CREATE TEMPORARY TABLE usersessions_in (
  `raw` STRING,
  event_partition INT METADATA FROM 'partition' VIRTUAL,
  event_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  ts AS TO_TIMESTAMP_LTZ({{usersession_ms_in_range}}, 3),
  WATERMARK FOR ts AS ts - {{lateness}}
) WITH (
  'connector' = 'kafka',
  'topic' = '{{sessions_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'properties.group.id' = '{{group_id}}',
  'properties.isolation.level' = 'read_committed',
  'scan.startup.mode' = 'earliest-offset',
  {{bounded}}
  {{pageviews_idle}}
  'format' = 'raw'
);

CREATE TEMPORARY VIEW usersessions_json AS
SELECT `raw`, event_partition, event_offset, ts, `raw` IS JSON OBJECT AS is_object,
  {{usersession_json_columns}}
FROM usersessions_in;

CREATE TEMPORARY VIEW usersessions AS
SELECT
  `raw`,
  event_partition,
  event_offset,
  {{usersession_values}},
  ts,
  EXTRACT(EPOCH FROM ts) * 1000 + EXTRACT(MILLISECOND FROM ts) AS t_ms,
  COALESCE(
    EXTRACT(EPOCH FROM CURRENT_WATERMARK(ts)) * 1000
      + EXTRACT(MILLISECOND FROM CURRENT_WATERMARK(ts)),
    -9223372036854775807
  ) AS wm_ms
FROM usersessions_json
WHERE {{usersession_reason}} IS NULL;

-- Refused page views and user sessions, with the reason.
CREATE TEMPORARY VIEW dead_letters AS
SELECT `raw`, reason, UNIX_TIMESTAMP() * 1000 AS received_at, event_partition, event_offset
FROM (SELECT *, {{pageview_reason}} AS reason FROM pageviews_json)
WHERE reason IS NOT NULL
UNION ALL
SELECT `raw`, reason, UNIX_TIMESTAMP() * 1000 AS received_at, event_partition, event_offset
FROM (SELECT *, {{usersession_reason}} AS reason FROM usersessions_json)
WHERE reason IS NOT NULL;
