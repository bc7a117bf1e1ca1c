"""boto3 clients, built once per process from the config. Locally they point at the
embedded emulator (AWS_ENDPOINT_URL); in production at AWS. Same code either way."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from jobmanager.config import get_config

from . import metering

_BOTO_CONFIG = BotoConfig(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,  # above SQS's 20 s long poll
    max_pool_connections=32,
)


@functools.cache
def session() -> boto3.session.Session:
    made = boto3.session.Session(region_name=get_config().region)
    metering.install(made.events)  # request counts for tests and benchmarks (a no-op when unused)
    return made


def _kwargs() -> dict[str, Any]:
    endpoint = get_config().aws_endpoint_url
    return {"endpoint_url": endpoint, "config": _BOTO_CONFIG} if endpoint else {"config": _BOTO_CONFIG}


@functools.cache
def client(service: str) -> Any:
    return session().client(service, **_kwargs())


@functools.cache
def dynamodb_resource() -> Any:
    return session().resource("dynamodb", **_kwargs())


def reset() -> None:
    """Forget every client (tests switch endpoints; config is re-read)."""
    session.cache_clear()
    client.cache_clear()
    dynamodb_resource.cache_clear()
