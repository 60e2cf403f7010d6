"""Planning, shard processing, mapping, diff and finalize rules. No AWS here."""
