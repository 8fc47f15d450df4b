-- One raw record stream ({{records}}), rendered once per record type the job reads.
-- One STRING per record, so that bad records can be told apart in SQL. A record's event time is
-- 0 unless its timestamp parses and is at most a day ahead (older than 2000 is kept: too old to
-- move the watermark). So only a record whose other fields are bad can still move the
-- watermark (cheaper than validating twice per record).
CREATE TEMPORARY TABLE {{records}}_in (
  `raw` STRING,
  event_partition INT METADATA FROM 'partition' VIRTUAL,
  event_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  ts AS TO_TIMESTAMP_LTZ({{ms_in_range}}, 3),
  WATERMARK FOR ts AS ts - {{lateness}}
) WITH (
  'connector' = 'kafka',
  'topic' = '{{topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'properties.group.id' = '{{group_id}}',
  'properties.isolation.level' = 'read_committed',
  'scan.startup.mode' = 'earliest-offset',
  {{bounded}}
  {{idle}}
  'format' = 'raw'
);

-- Facts of each record's arrival, computed once: whether it is in our producer's canonical form
-- (model/canonical.py), its event time, and the watermark then. The planner computes a view that
-- several views read only once (reuse-optimize-block-with-digest-enabled).
CREATE TEMPORARY VIEW {{records}}_arrived AS
SELECT `raw`, event_partition, event_offset, ts,
  {{canonical}} AS canonical,
  EXTRACT(EPOCH FROM ts) * 1000 + EXTRACT(MILLISECOND FROM ts) AS t_ms,
  -- Before the first watermark nothing is late.
  COALESCE(
    EXTRACT(EPOCH FROM CURRENT_WATERMARK(ts)) * 1000
      + EXTRACT(MILLISECOND FROM CURRENT_WATERMARK(ts)),
    -9223372036854775807
  ) AS wm_ms
FROM {{records}}_in;

-- Records of another form (other clients' writes) are checked in full: each field parsed out of
-- the record once, then the first problem (NULL if none) from those columns only.
CREATE TEMPORARY VIEW {{records}}_json AS
SELECT `raw`, event_partition, event_offset, ts, t_ms, wm_ms,
  `raw` IS JSON OBJECT AS is_object,
  {{json_columns}}
FROM {{records}}_arrived
WHERE NOT canonical;

CREATE TEMPORARY VIEW {{records}}_checked AS
SELECT *, {{reason}} AS reason FROM {{records}}_json;

-- Valid records with their event time (ms) and the watermark at their arrival.
CREATE TEMPORARY VIEW {{records}} AS
SELECT `raw`, event_partition, event_offset, {{canonical_values}}, ts, t_ms, wm_ms
FROM {{records}}_arrived
WHERE canonical
UNION ALL
SELECT `raw`, event_partition, event_offset, {{values}}, ts, t_ms, wm_ms
FROM {{records}}_checked
WHERE reason IS NULL;

-- Refused records, with the reason. A record over the line limit keeps its first characters
-- only: Flink cannot count bytes, and a dead letter over Kafka's message limit would fail the
-- job at every restart.
CREATE TEMPORARY VIEW {{records}}_dead AS
SELECT {{dead_raw}} AS `raw`, reason, UNIX_TIMESTAMP() * 1000 AS received_at, event_partition,
  event_offset
FROM {{records}}_checked
WHERE reason IS NOT NULL;
