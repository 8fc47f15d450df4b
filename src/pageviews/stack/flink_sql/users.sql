-- Debezium change events of the Users table (JsonConverter, schemas.enable=false: the
-- envelope's before/after/op are top-level fields). Tombstones (null values) are skipped.
-- updated_at is a TIMESTAMP(3) column, which Debezium sends as an ISO string in UTC.
CREATE TEMPORARY TABLE users_in (
  `before` ROW<user_id BIGINT, age INT, gender STRING, country STRING, subscription STRING,
    updated_at STRING>,
  `after` ROW<user_id BIGINT, age INT, gender STRING, country STRING, subscription STRING,
    updated_at STRING>,
  op STRING,
  event_partition INT METADATA FROM 'partition' VIRTUAL,
  event_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  -- A delete's version time is its before-image's updated_at: the writer stamps it first.
  version_ms AS
    UNIX_TIMESTAMP(SUBSTR(REPLACE(
      CASE WHEN op = 'd' THEN `before`.updated_at ELSE `after`.updated_at END,
      'T', ' '), 1, 19), 'yyyy-MM-dd HH:mm:ss') * 1000
    + COALESCE(CAST(SUBSTR(RPAD(REGEXP_EXTRACT_ALL(
      CASE WHEN op = 'd' THEN `before`.updated_at ELSE `after`.updated_at END,
      '\.([0-9]+)', 1)[1], 3, '0'), 1, 3) AS BIGINT), 0),
  vts AS TO_TIMESTAMP_LTZ(
    COALESCE(
      UNIX_TIMESTAMP(SUBSTR(REPLACE(
        CASE WHEN op = 'd' THEN `before`.updated_at ELSE `after`.updated_at END,
        'T', ' '), 1, 19), 'yyyy-MM-dd HH:mm:ss') * 1000
      + COALESCE(CAST(SUBSTR(RPAD(REGEXP_EXTRACT_ALL(
        CASE WHEN op = 'd' THEN `before`.updated_at ELSE `after`.updated_at END,
        '\.([0-9]+)', 1)[1], 3, '0'), 1, 3) AS BIGINT), 0),
      0),
    3),
  WATERMARK FOR vts AS vts - {{lateness}}
) WITH (
  'connector' = 'kafka',
  'topic' = '{{users_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'properties.group.id' = '{{group_id}}',
  'scan.startup.mode' = 'earliest-offset',
  {{bounded}}
  {{users_idle}}
  'format' = 'json',
  'json.ignore-parse-errors' = 'true'
);

-- Append-only versions: upserts (c/u/r) from `after`, deletes from `before` with deleted=true.
-- Incomplete upserts (any profile field NULL) are ignored, as in the embedded engine.
CREATE TEMPORARY VIEW user_versions AS
SELECT
  CASE WHEN op = 'd' THEN `before`.user_id ELSE `after`.user_id END AS user_id,
  CASE WHEN op = 'd' THEN CAST(NULL AS INT) ELSE `after`.age END AS age,
  CASE WHEN op = 'd' THEN CAST(NULL AS STRING) ELSE `after`.gender END AS gender,
  CASE WHEN op = 'd' THEN CAST(NULL AS STRING) ELSE `after`.country END AS country,
  CASE WHEN op = 'd' THEN CAST(NULL AS STRING) ELSE `after`.subscription END AS subscription,
  op = 'd' AS deleted,
  version_ms,
  event_partition,
  event_offset,
  vts
FROM users_in
WHERE version_ms IS NOT NULL AND vts > TO_TIMESTAMP_LTZ(0, 3)
  AND (
    (op = 'd' AND `before`.user_id IS NOT NULL)
    OR (op IN ('c', 'u', 'r') AND `after`.user_id IS NOT NULL AND `after`.age IS NOT NULL
        AND `after`.gender IS NOT NULL AND `after`.country IS NOT NULL
        AND `after`.subscription IS NOT NULL)
  );

-- The versioned view for the event-time temporal join: latest version per user by time.
CREATE TEMPORARY VIEW users_versioned AS
SELECT user_id, age, country, deleted, vts
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY vts DESC) AS rn
  FROM user_versions
)
WHERE rn = 1;

-- cleaned_users: the latest version by updated_at (ties: the later change), deletes kept as
-- deleted=true since a Pinot upsert table cannot delete a row.
CREATE TEMPORARY VIEW cleaned_users AS
SELECT user_id, age, gender, country, subscription, version_ms AS updated_at, deleted
FROM (
  SELECT *, ROW_NUMBER() OVER (
    PARTITION BY user_id ORDER BY version_ms DESC, event_offset DESC) AS rn
  FROM (SELECT user_id, age, gender, country, subscription, version_ms, deleted, event_offset
        FROM user_versions)
)
WHERE rn = 1;
