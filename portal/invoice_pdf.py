"""HTML to PDF with xhtml2pdf, for documents rendered from the portal's own templates.

xhtml2pdf fetches whatever an ``<img src>``, ``<link href>`` or ``@font-face src``
names (files, URLs). Our invoice needs two outside resources, its font and the
seller's logo, so every other fetch is refused: a value that made its way into the
markup can never make the server read a file or call a URL. The font is asked for by
name (``url("pdf-font:regular")`` in ``portal/invoices/pdf_layout.html``) and only
those names lead to a file; the logo by the name ``pdf-image:logo``
(``portal/invoices/pdf_seller.html``), answered with the ``PORTAL_SELLER_LOGO`` file
inline (a ``data:`` URI made by ``portal.seller``: no path reaches xhtml2pdf).

The font: xhtml2pdf's default is Helvetica, one of the PDF standard fonts, which draws
WinAnsi only (Western European): a customer called "Łukasz" or "Şükrü", or "→" in
a plan's name, would come out as black boxes. DejaVu Sans (``portal/fonts``, from
Debian's fonts-dejavu-core, under the Bitstream Vera licence in ``LICENSE`` beside it)
covers Latin, Greek and Cyrillic in full; it is embedded as a subset of the glyphs a
document uses.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from xhtml2pdf import pisa

logger = logging.getLogger(__name__)

FONT_DIR = Path(__file__).resolve().parent / "fonts"
# What a PDF template may name in @font-face, and the only files it may read.
FONTS = {
    "pdf-font:regular": FONT_DIR / "DejaVuSans.ttf",
    "pdf-font:bold": FONT_DIR / "DejaVuSans-Bold.ttf",
}


class PdfRenderError(RuntimeError):
    """xhtml2pdf could not turn the document into a PDF."""


# What a refused fetch turns into: an empty inline resource, read from nowhere. (An
# empty answer would not do: xhtml2pdf then fetches the URI as written.)
NOTHING = "data:,"


# What a PDF template may name in <img src>: the seller's logo, embedded.
LOGO = "pdf-image:logo"


def _fonts_only(uri: str, rel: str) -> str:
    font = FONTS.get(uri)
    if font is not None:
        return str(font)
    if uri == LOGO:
        from .seller import seller

        return seller().logo_data_uri() or NOTHING
    logger.warning("PDF rendering refused to fetch %r", uri[:200])
    return NOTHING


def _resource_policy():
    """xhtml2pdf's own guard (0.2.18 and later), in case a path got past the callback:
    no network, local reads confined to the font directory, the server's limits."""
    try:
        from xhtml2pdf.config.resources import ResourceAccessPolicy
    except ImportError:  # an older xhtml2pdf: the link callback is the only guard
        return None
    return ResourceAccessPolicy.server(base_dir=FONT_DIR, allow_remote=False)


def render_pdf(html: str) -> bytes:
    buffer = io.BytesIO()
    policy = _resource_policy()
    result = pisa.CreatePDF(
        html,
        dest=buffer,
        encoding="utf-8",
        link_callback=_fonts_only,
        **({"resource_policy": policy} if policy is not None else {}),
    )
    if result.err:
        raise PdfRenderError(f"xhtml2pdf reported {result.err} error(s)")
    return buffer.getvalue()
