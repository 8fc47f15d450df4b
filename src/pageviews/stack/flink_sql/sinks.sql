-- Results: upsert-kafka, key = JSON of the key columns, value = JSON of all columns (contract).
CREATE TEMPORARY TABLE cleaned_users_out (
  user_id BIGINT, age INT, gender STRING, country STRING, subscription STRING,
  updated_at BIGINT, deleted BOOLEAN,
  PRIMARY KEY (user_id) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{{cleaned_users_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'key.format' = 'json', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

CREATE TEMPORARY TABLE country_out (
  window_start BIGINT, window_end BIGINT, country STRING, pageview_count BIGINT,
  user_count BIGINT, average_age DOUBLE, is_final BOOLEAN,
  PRIMARY KEY (country, window_start) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{{country_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'key.format' = 'json', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

CREATE TEMPORARY TABLE tumbling_out (
  window_start BIGINT, window_end BIGINT, source STRING, pageview_count BIGINT,
  user_count BIGINT, is_final BOOLEAN,
  PRIMARY KEY (source, window_start) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{{tumbling_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'key.format' = 'json', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

CREATE TEMPORARY TABLE hopping_out (
  window_start BIGINT, window_end BIGINT, source STRING, pageview_count BIGINT,
  user_count BIGINT, is_final BOOLEAN,
  PRIMARY KEY (source, window_start) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{{hopping_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'key.format' = 'json', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

CREATE TEMPORARY TABLE session_out (
  window_start BIGINT, window_end BIGINT, source STRING, pageview_count BIGINT,
  user_count BIGINT, is_final BOOLEAN,
  PRIMARY KEY (source, window_start) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{{session_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'key.format' = 'json', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

CREATE TEMPORARY TABLE user_sessions_out (
  user_id BIGINT, window_start BIGINT, window_end BIGINT, pageview_count BIGINT,
  is_final BOOLEAN,
  PRIMARY KEY (user_id, window_start) NOT ENFORCED
) WITH (
  'connector' = 'upsert-kafka', 'topic' = '{{user_sessions_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'key.format' = 'json', 'value.format' = 'json', 'value.fields-include' = 'ALL'
);

-- Append-only side outputs, in Kafka transactions committed at each checkpoint.
CREATE TEMPORARY TABLE late_events_out (
  `view` STRING, window_start BIGINT, `raw` STRING, event_partition INT, event_offset BIGINT
) WITH (
  'connector' = 'kafka', 'topic' = '{{late_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'properties.transaction.timeout.ms' = '600000',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = '{{group_id}}-late',
  'format' = 'json'
);

CREATE TEMPORARY TABLE dead_letters_out (
  `raw` STRING, reason STRING, received_at BIGINT, event_partition INT, event_offset BIGINT
) WITH (
  'connector' = 'kafka', 'topic' = '{{dead_topic}}',
  'properties.bootstrap.servers' = '{{bootstrap}}',
  'properties.transaction.timeout.ms' = '600000',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = '{{group_id}}-dead',
  'format' = 'json'
);
