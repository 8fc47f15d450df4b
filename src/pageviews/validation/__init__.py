"""One spec of the record model, checked by every validator: compiled scan, DuckDB, per record."""
