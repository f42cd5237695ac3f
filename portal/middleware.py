"""Request checks and response headers that apply to every URL of the site."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.cache import patch_cache_control

from subscriptions.app_settings import midtrans_settings
from subscriptions.gateways.midtrans import SNAP_URLS

from .views import method_not_allowed_page


class RejectNulBytesMiddleware:
    """A URL whose path or query string holds a NUL character is a 400.

    PostgreSQL text cannot hold NUL, and psycopg refuses such a query parameter with a
    ``DataError``: an order id or token in the path (``/billing/checkout/%00/finish/``),
    the hosted page's ``?order=`` or an admin list filter (``?status=%00``) reaching a
    lookup was a 500 there (SQLite merely finds nothing). No URL of ours has a use for
    NUL, so it is refused before any view runs. Form fields are the forms' business
    (Django's ``CharField`` already refuses NUL with a field error).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = unquote(request.META.get("QUERY_STRING", ""))
        if "\x00" in request.path_info or "\x00" in query:
            return HttpResponseBadRequest("Bad request: the address holds a NUL character.")
        return self.get_response(request)


class PrivatePagesMiddleware:
    """``Cache-Control: private, no-store`` on every response to a signed-in request:
    pages, HTMX partials, invoice PDFs. A shared computer's back button or a caching
    proxy must never show one customer's billing to the next. (Pages that anyone with
    a link may open, the hosted invoice and the sandbox's payment page, say the same
    with ``never_cache``.) Sits after AuthenticationMiddleware; static files are
    answered by WhiteNoise before they get here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response


class MethodNotAllowedPageMiddleware:
    """A GET (or HEAD) on an address that only a form's button may open (pay, pause,
    top up...) gets a page that says so, with a way back, instead of Django's empty 405.
    It happens: after a form comes back with errors the address bar shows the form's
    address (``/billing/wallet/top-up/``), and entering it again, or sharing it, is a
    GET. The status stays 405 with its ``Allow``. Left alone: other methods, HTMX
    requests (htmx swaps no 4xx) and a 405 that already says something (a view's own
    page, the hosted invoice's pay address). Sits after the auth and messages
    middleware: the page is rendered with the portal's layout.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code != 405
            or request.method not in ("GET", "HEAD")
            or request.headers.get("HX-Request")
            or getattr(response, "streaming", False)
            or response.content
        ):
            return response
        return method_not_allowed_page(request, allow=response.get("Allow", ""))


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def snap_origin() -> str:
    """Where Midtrans' Snap lives: its payment page, snap.js and the popup's frame."""
    return (
        _origin(midtrans_settings.SNAP_BASE_URL) or SNAP_URLS[bool(midtrans_settings.IS_PRODUCTION)]
    )


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's header (``CONTENT_SECURITY_POLICY`` in settings) plus the origins
    that depend on configuration, read per request so that they follow the settings:
    Snap's (snap.js, its popup frame, and ``form-action``: Chromium checks the redirect
    that answers a payment form against it) and ``SITE_URL``'s (the sandbox's page and
    every return URL are built from it, whatever host the browser used)."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if report_only:
            return parts
        snap = snap_origin()
        extra = {
            "script-src": [snap],
            "frame-src": [snap],
            "form-action": [origin for origin in (_origin(settings.SITE_URL), snap) if origin],
        }
        for directive, sources in (parts.update or {}).items():
            extra[directive] = [*extra.get(directive, []), *sources]
        parts.update = extra
        return parts
