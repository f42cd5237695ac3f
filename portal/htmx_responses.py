"""What a mutating view answers to an HTMX request: the updated fragment, the
notification region out of band (``hx-swap-oob``), and named ``HX-Trigger`` events
(``portal/events.py``) so that other cards on the page refresh themselves."""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django_htmx.http import trigger_client_event


def fragment_response(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    events: Iterable[str] = (),
    status: int = 200,
) -> HttpResponse:
    """``template`` (usually ``page.html#fragment``) followed by the notification region
    out of band, with ``events`` in ``HX-Trigger``.

    The status stays 2xx for domain errors shown inside the fragment: htmx swaps only
    successful responses by default.
    """
    html = render_to_string(template, context, request=request)
    html += render_to_string("includes/notifications.html", {"oob": True}, request=request)
    response = HttpResponse(html, status=status)
    for name in events:
        trigger_client_event(response, name)
    return response
