"""Where accepted records, engine state and results are kept."""
