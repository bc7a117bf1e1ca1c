"""Persistence. Only this package talks to DynamoDB; every key string lives in keys.py."""
