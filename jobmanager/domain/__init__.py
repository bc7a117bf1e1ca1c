"""The domain: events, task/job states, DAG rules, templates, errors. No AWS, no Django."""
