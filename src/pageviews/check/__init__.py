"""The oracle: result tables recomputed in batch SQL from the raw records, and compared."""
