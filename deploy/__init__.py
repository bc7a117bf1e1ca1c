"""Deployment to AWS: stacks in order, Zappa settings per stage (python -m deploy STAGE)."""
