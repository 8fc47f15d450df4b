"""The embedded streaming engine: vectorized micro-batches over DuckDB, in event time."""
