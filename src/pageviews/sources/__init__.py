"""Where input records come from: the deterministic generator and JSONL files."""
