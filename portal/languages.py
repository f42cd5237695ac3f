"""The reader's language: English or Indonesian, chosen the way Django users expect.

- A first visit follows the browser (``Accept-Language``, through Django's
  ``LocaleMiddleware``), else ``LANGUAGE_CODE``.
- The switch in the header and on the sign-in page is Django's ``set_language`` (a POST
  that returns to the page it was on and sets the language cookie), wrapped here so a
  signed-in choice is also stored on the account (``Preferences.language``).
- On sign-in, a language chosen during this visit becomes the account's preference;
  otherwise the stored preference is used (on every device), and an account with none
  takes the language it signed in with.
- The session remembers the account's language (``SESSION_KEY``), so a signed-in page
  reads no extra row to know it: ``UserLanguageMiddleware`` activates it.
- Emails and banners are written in the recipient's language when they are rendered,
  whatever process renders them: ``language_of(user)``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from .models import Preferences

SESSION_KEY = "portal_language"


def supported(code: str | None) -> str | None:
    """``code`` as one of ``settings.LANGUAGES`` ("id-ID" -> "id"), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def stored_language(user) -> str | None:
    """The account's stored choice, if it is one of ``settings.LANGUAGES`` (one query)."""
    stored = Preferences.objects.filter(user_id=user.pk).values_list("language", flat=True)
    return supported(next(iter(stored), ""))


def request_language(request: HttpRequest) -> str | None:
    """The language the page is in: the switch's choice in this visit, else the cookie's
    or the browser's (``LocaleMiddleware``, ``UserLanguageMiddleware``)."""
    return supported(getattr(request, "LANGUAGE_CODE", None) or translation.get_language())


def language_of(user) -> str:
    """The language to write to ``user`` in: their stored choice, else the site's."""
    if user is not None and getattr(user, "pk", None) is not None:
        code = stored_language(user)
        if code:
            return code
    return supported(settings.LANGUAGE_CODE) or settings.LANGUAGE_CODE


def remember(user, code: str) -> None:
    """Store ``code`` as the account's language (one upsert)."""
    Preferences.objects.update_or_create(user_id=user.pk, defaults={"language": code})


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's ``set_language`` (cookie, redirect to ``next``), and the choice kept for
    the rest of the visit and, signed in, on the account."""
    posted = request.POST.get("language")
    code = supported(posted)
    if code != posted:
        # Only a language of settings.LANGUAGES goes in the cookie ("id-ID" as "id"):
        # Django's view takes any language it has a catalogue for ("fr").
        request.POST = request.POST.copy()
        request.POST["language"] = code or ""
    response = django_set_language(request)
    if code:
        request.session[SESSION_KEY] = code
        if request.user.is_authenticated:
            remember(request.user, code)
    return response


@receiver(user_logged_in, dispatch_uid="portal.languages.on_sign_in")
def on_sign_in(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    chosen = supported(request.session.get(SESSION_KEY))
    if chosen:
        remember(user, chosen)
        return
    code = stored_language(user)
    if code is None:
        code = request_language(request)
        if code:
            remember(user, code)
    if code:
        request.session[SESSION_KEY] = code
        # The rest of this request too: allauth's "Signed in as ..." message is
        # written after this signal, and shown on the next page in this language.
        translation.activate(code)
        request.LANGUAGE_CODE = code


class UserLanguageMiddleware:
    """After ``AuthenticationMiddleware``: the language kept in the session (the
    account's, or the one chosen in this visit) wins over the cookie and the browser,
    and the cookie is brought in line so that it stays after signing out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        code = None
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            code = supported(request.session.get(SESSION_KEY))
        if code and code != getattr(request, "LANGUAGE_CODE", None):
            translation.activate(code)
            request.LANGUAGE_CODE = code
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and session.modified:
            # Signing in during this request brought the account's language: the
            # cookie follows now, not one page later.
            code = supported(session.get(SESSION_KEY)) or code
        # (When the switch answers, it has set the cookie already.)
        cookie = settings.LANGUAGE_COOKIE_NAME
        if code and request.COOKIES.get(cookie) != code and cookie not in response.cookies:
            response.set_cookie(
                cookie,
                code,
                max_age=settings.LANGUAGE_COOKIE_AGE,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                secure=settings.LANGUAGE_COOKIE_SECURE,
                httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
                samesite=settings.LANGUAGE_COOKIE_SAMESITE,
            )
        return response
