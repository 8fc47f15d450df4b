"""The two runtimes behind one interface: embedded (DuckDB) and stack (Kafka, Flink, Pinot).

`base.Runtime` is what the CLI asks of a runtime. The stack runtime's module imports its
services lazily, so the embedded runtime works without the `kafka` extra.
"""
