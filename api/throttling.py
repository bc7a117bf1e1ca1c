"""The seed's API Gateway usage plan, enforced by the app: per API key, rate + burst and a
daily quota (``settings.API_USAGE_PLAN``), counted in DynamoDB so that every Lambda
instance and process shares the count. Refusals are 429 with ``Retry-After``.

Only API-key requests are counted: logged-in dashboard users browsing the API are staff,
not the clients the usage plan is for.
"""

from __future__ import annotations

import logging
import time

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from rest_framework import exceptions, throttling

from jobmanager.store.throttle import get_throttle_store, usage_plan_windows

from .models import ApiKey

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


class ApiKeyThrottle(throttling.BaseThrottle):
    def allow_request(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        windows = usage_plan_windows(**settings.API_USAGE_PLAN)
        try:
            # Counted by (part of) the key's hash, not its row id: ids can be reused, hashes aren't.
            verdict = get_throttle_store().hit(key.key_hash[:32], windows, now_ms=now_ms())
        except (ClientError, BotoCoreError):
            # Fail open: an unreachable counter store must not take the API down with it.
            log.exception("throttle store unavailable; request allowed")
            return True
        if verdict.allowed:
            return True
        assert verdict.window is not None
        what = "daily quota" if verdict.window.name == "day" else "rate limit"
        raise exceptions.Throttled(
            wait=verdict.retry_after,
            detail=f"{what} exceeded: {verdict.window.limit} requests per "
            f"{verdict.window.millis / 1000:g} s for this API key",
        )
