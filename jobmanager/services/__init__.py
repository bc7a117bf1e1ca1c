"""Use cases: writes (jobs, dispatch, task definitions, persistence) and reads (queries)."""
