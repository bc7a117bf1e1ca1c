"""Adapters for SQS, EventBridge and S3 (DynamoDB lives in jobmanager.store)."""
