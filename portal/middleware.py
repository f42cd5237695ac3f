"""Request checks that apply to every URL of the site."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


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
