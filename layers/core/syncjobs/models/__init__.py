"""pydantic models: job definitions, runs, shards, outcomes."""
