"""The seller: who issues the invoices, as the hosted invoice page, every email and the
invoice PDF name them.

Read from the settings in this one place (``seller()``), each time it is asked (so
``override_settings`` works and a changed environment shows after a restart):

- ``PORTAL_SELLER_NAME``: the legal name ("PT Contoh Digital Indonesia");
- ``PORTAL_SELLER_ADDRESS``: the postal address, one line per line;
- ``PORTAL_SELLER_TAX_ID``: the tax ID (NPWP);
- ``PORTAL_SELLER_EMAIL``: where customers write about billing;
- ``PORTAL_SELLER_LOGO``: a static file (``img/logo.png``, the built-in mark, by default;
  "" for none). PNG or JPEG: email clients do not show SVG, and the PDF embeds it.

Each is empty unless set, and whatever is empty is simply left out. The brand
(``PORTAL_BRAND_NAME``) stays the name in headers and subjects; the legal name is the
seller's.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.templatetags.static import static

logger = logging.getLogger(__name__)

DEFAULT_LOGO = "img/logo.png"
# What a logo may be for the PDF and the emails, and how large it may be to embed.
LOGO_TYPES = {"image/png", "image/jpeg", "image/gif"}
LOGO_MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class Seller:
    brand: str
    name: str = ""
    address: str = ""
    tax_id: str = ""
    email: str = ""
    logo: str = DEFAULT_LOGO

    @property
    def address_lines(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.address.splitlines() if line.strip())

    @property
    def has_details(self) -> bool:
        """Anything to show besides the brand and the logo."""
        return bool(self.name or self.address_lines or self.tax_id or self.email)

    @property
    def logo_url(self) -> str:
        """The logo's URL on this site (a path), or "" for none (or one not found)."""
        if not self.logo:
            return ""
        try:
            return static(self.logo)
        except ValueError:  # not in the manifest: a path that collectstatic never saw
            logger.warning("PORTAL_SELLER_LOGO %r is not a static file", self.logo)
            return ""

    @property
    def logo_absolute_url(self) -> str:
        """The logo's URL for an email (on ``SITE_URL``, unless ``STATIC_URL`` is a
        full URL of its own)."""
        url = self.logo_url
        if not url or url.startswith(("https://", "http://")):
            return url
        return settings.SITE_URL.rstrip("/") + "/" + url.lstrip("/")

    def logo_path(self) -> Path | None:
        """The logo's file (found like any static file), or ``None``."""
        if not self.logo:
            return None
        try:
            found = finders.find(self.logo)
        except SuspiciousFileOperation:  # "../" out of the static directories
            found = None
        return Path(found) if isinstance(found, str) else None

    def logo_data_uri(self) -> str:
        """The logo inline (``data:image/png;base64,...``) for the PDF, which reads no
        file a document names; "" when there is no logo, or it is not a PNG, JPEG or
        GIF file of at most ``LOGO_MAX_BYTES``."""
        path = self.logo_path()
        if path is None:
            return ""
        kind = mimetypes.guess_type(path.name)[0]
        if kind not in LOGO_TYPES or path.stat().st_size > LOGO_MAX_BYTES:
            logger.warning("PORTAL_SELLER_LOGO %r cannot be embedded in a PDF", self.logo)
            return ""
        return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"

    def snapshot(self) -> dict[str, str]:
        """The seller's details as plain values (to be kept with a document)."""
        return asdict(self)


def _setting(name: str, default: str = "") -> str:
    value = getattr(settings, name, default)
    return default if value is None else str(value).strip()


def seller() -> Seller:
    """The seller as the settings describe it now."""
    from .templatetags.portal_tags import brand_name

    return Seller(
        brand=str(brand_name()),
        name=_setting("PORTAL_SELLER_NAME"),
        # "\n" typed in an environment variable is a new line too.
        address=_setting("PORTAL_SELLER_ADDRESS").replace("\\n", "\n"),
        tax_id=_setting("PORTAL_SELLER_TAX_ID"),
        email=_setting("PORTAL_SELLER_EMAIL"),
        logo=_setting("PORTAL_SELLER_LOGO", DEFAULT_LOGO),
    )
