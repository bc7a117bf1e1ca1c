"""Static files storages whose URLs follow the request's path prefix.

Django's storages cache ``base_url`` (``STATIC_URL`` with the script prefix of whichever
request came first), so an app served both under an API Gateway stage (``/prod/``) and
without one, or one whose first ``{% static %}`` ran outside a request, would print
``/static/...`` links that miss the stage. Here ``base_url`` is worked out per call."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.storage import StaticFilesStorage
from django.urls import get_script_prefix
from whitenoise.storage import CompressedManifestStaticFilesStorage


class _RequestPrefixedUrl:
    @property
    def base_url(self) -> str:
        # settings.STATIC_URL would do, but LazySettings caches it with the prefix of its
        # first access; the configured value (relative "static/") gets this request's prefix.
        url = settings._wrapped.STATIC_URL
        if "://" in url or url.startswith("/"):
            return url if url.endswith("/") else url + "/"
        return get_script_prefix() + url + ("" if url.endswith("/") else "/")


class PrefixedStaticFilesStorage(_RequestPrefixedUrl, StaticFilesStorage):
    pass


class PrefixedManifestStaticFilesStorage(_RequestPrefixedUrl, CompressedManifestStaticFilesStorage):
    pass
