"""Example task definitions, jobs and the small tools their command tasks run."""
