"""The portal's allauth adapter: where allauth asks the project about the request.

- The client's address (for allauth's rate limits) is read through
  ``TRUSTED_PROXY_COUNT`` (``subscriptions.client_ip``), so behind a proxy each
  customer is counted on their own and a forged ``X-Forwarded-For`` counts for nothing.
- Every link and name in allauth's emails comes from ``SITE_URL``, never from the
  request's ``Host``: ``ALLOWED_HOSTS`` may allow several names (an old domain, the
  load balancer's), and a reset link sent to whichever one a request used is a link
  someone else may control. allauth builds its links with
  ``request.build_absolute_uri`` in its flows; every email goes through ``send_mail``,
  which puts each ``*_url`` of the context on ``SITE_URL``.
- allauth's emails are branded like the billing ones: the subject starts with the
  brand (``[PORTAL_BRAND_NAME]``, not the host), and the text allauth writes (in its
  own translations) gets an HTML version in the portal's email look
  (``allauth/email/layout.html``) with a button for the link it is about.
- They are written in the recipient's language (``language_of``), whoever triggers
  them: a password reset asked for by a signed-out visitor reaches an existing account
  in the account's language. An address with no account (allauth's "unknown account"
  email) gets the language of the page the request came from. Signing up stores the
  language of the sign-up page as the account's, so the verification email is in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.utils import filter_users_by_email
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape, linebreaks, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import pgettext_lazy

from subscriptions.client_ip import client_ip

from .languages import language_of, remember, request_language, supported
from .links import absolute
from .templatetags.portal_tags import brand_name


@dataclass(frozen=True)
class Site:
    """What allauth's email templates read from ``current_site``."""

    name: str
    domain: str


def site() -> Site:
    return Site(name=str(brand_name()), domain=urlsplit(settings.SITE_URL).netloc)


def on_site(url: str) -> str:
    """``url`` (absolute or a path) with ``SITE_URL``'s scheme and host."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return absolute(path + (f"#{parts.fragment}" if parts.fragment else ""))


# The link an email is about, by allauth's template: shown as a button in the HTML.
BUTTONS: dict[str, tuple[str, Any]] = {
    "account/email/email_confirmation": (
        "activate_url",
        pgettext_lazy("email button", "Confirm email address"),
    ),
    "account/email/email_confirmation_signup": (
        "activate_url",
        pgettext_lazy("email button", "Confirm email address"),
    ),
    "account/email/password_reset_key": (
        "password_reset_url",
        pgettext_lazy("email button", "Choose a new password"),
    ),
    "account/email/unknown_account": (
        "signup_url",
        pgettext_lazy("email button", "Create an account"),
    ),
    "account/email/account_already_exists": (
        "password_reset_url",
        pgettext_lazy("email button", "Reset your password"),
    ),
}


# A full link, without the sentence's full stop or comma after it.
LINK = re.compile(r"(https?://[^\s<>\"']+?)(?=[.,;:!?)]*(?:\s|$))")


def html_body(text: str, button_url: str = "", button_label: str = "") -> SafeString:
    """allauth's text email as HTML paragraphs (escaped, its links clickable), styled
    inline like the billing emails, with a button for ``button_url``: in place of a
    paragraph that is only that link, else under the one that gives it, else above
    the sign-off."""
    # Only the full links become links (urlize would also link "example.com").
    html = LINK.sub(
        r'<a href="\1" style="color:#4f46e5;word-break:break-all;">\1</a>', escape(text)
    )
    html = linebreaks(html).replace("<p>", '<p style="margin:0 0 16px;">')
    if button_url:
        button = render_to_string("emails/_button.html", {"url": button_url, "label": button_label})
        paragraphs = html.split("\n\n")
        href = f'href="{escape(button_url)}"'
        at = next((i for i, p in enumerate(paragraphs) if href in p), None)
        if at is None:
            paragraphs.insert(len(paragraphs) - 1, button.strip())
        elif strip_tags(paragraphs[at]).strip() == escape(button_url):
            paragraphs[at] = button.strip()  # a paragraph that is only the link
        else:
            paragraphs.insert(at + 1, button.strip())
        html = "\n\n".join(paragraphs)
    # Safe: the text is escaped first, a link is text matched without quotes or brackets,
    # and the button is rendered by its (autoescaping) template.
    return mark_safe(html)  # noqa: S308  # nosec B308 B703


def recipient_language(email: str, context: dict[str, Any]) -> str:
    """The language to write to ``email`` in: its account's (``language_of``), else,
    for an address with no account, the language of the current request."""
    user = context.get("user")
    if getattr(user, "pk", None) is None:
        user = next(iter(filter_users_by_email(email, prefer_verified=True)), None)
    if user is not None:
        return language_of(user)
    return supported(translation.get_language()) or language_of(None)


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def format_email_subject(self, subject: str) -> str:
        prefix = getattr(settings, "ACCOUNT_EMAIL_SUBJECT_PREFIX", None)
        return (f"[{site().name}] " if prefix is None else prefix) + str(subject)

    def save_user(self, request: HttpRequest, user, form, commit: bool = True):
        """The new account keeps the language it signed up in (its emails use it)."""
        user = super().save_user(request, user, form, commit=commit)
        if commit and user.pk is not None:
            code = request_language(request)  # the page's
            if code:
                remember(user, code)
        return user

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        context = {
            key: on_site(value) if key.endswith("_url") and isinstance(value, str) else value
            for key, value in context.items()
        }
        with translation.override(recipient_language(email, context)):
            super().send_mail(template_prefix, email, {"current_site": site(), **context})

    def render_mail(
        self,
        template_prefix: str,
        email: str | list[str],
        context: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> EmailMessage:
        """allauth's message, plus an HTML version in the portal's email look when
        allauth has only the text one (it has no HTML templates of its own)."""
        message = super().render_mail(template_prefix, email, context, headers=headers)
        if not isinstance(message, EmailMultiAlternatives) or message.alternatives:
            return message
        url_key, label = BUTTONS.get(template_prefix, ("", ""))
        current = context.get("current_site") or site()
        message.attach_alternative(
            render_to_string(
                "allauth/email/layout.html",
                {
                    "subject": message.subject,
                    "brand": current.name,
                    "site_url": absolute("/"),
                    "body": html_body(message.body, context.get(url_key, ""), str(label)),
                },
            ),
            "text/html",
        )
        return message
