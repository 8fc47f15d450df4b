"""The stack's services: fetch, start, watch and stop Kafka, MariaDB, Connect, Flink and Pinot."""
