"""What an htmx request gets when the session has expired or the CSRF token no longer
matches: not a login form or an error page swapped into a table cell, but an
instruction htmx follows for the whole page (``HX-Redirect`` to the login page, coming
back to the page the user was on; ``HX-Refresh`` to reload it with a fresh token)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

NO_SWAP = 204  # htmx follows the header and swaps nothing


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


class LoginRequiredMiddleware(DjangoLoginRequired):
    def handle_no_permission(self, request: HttpRequest, view_func) -> HttpResponse:
        if not _is_htmx(request):
            return super().handle_no_permission(request, view_func)
        # Back to the page in the address bar (the polled fragment is not a page).
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        back = (current.path + (f"?{current.query}" if current.query else "")) if current.path \
            else request.get_full_path()
        login = redirect_to_login(back, self.get_login_url(view_func))
        return HttpResponse(status=NO_SWAP, headers={"HX-Redirect": login["Location"]})


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """settings.CSRF_FAILURE_VIEW: a stale form (the session changed, the token rotated)."""
    if _is_htmx(request):
        return HttpResponse("This page is out of date; reloading.", status=403, headers={"HX-Refresh": "true"})
    return render(request, "403_csrf.html", {"reason": reason}, status=403)
