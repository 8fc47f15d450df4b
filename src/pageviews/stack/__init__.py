"""The distributed runtime's data path: input into Kafka and MariaDB, the Flink SQL job, Pinot's
tables, and reading it all back for `check`. Operating the services (fetch, start, watch, stop)
lives apart, in `stack/services/`."""
