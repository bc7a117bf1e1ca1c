"""The producer API (DRF): jobs and task definitions, authenticated by API key."""
