"""HTML to PDF with xhtml2pdf, for documents rendered from the portal's own templates.

xhtml2pdf fetches whatever an ``<img src>`` or ``<link href>`` names (files, URLs).
Our invoice needs no outside resource, so every fetch is refused: a value that made
its way into the markup can never make the server read a file or call a URL.
"""

from __future__ import annotations

import io
import logging

from xhtml2pdf import pisa

logger = logging.getLogger(__name__)


class PdfRenderError(RuntimeError):
    """xhtml2pdf could not turn the document into a PDF."""


def _no_fetching(uri: str, rel: str) -> str:
    logger.warning("PDF rendering refused to fetch %r", uri[:200])
    return ""


def render_pdf(html: str) -> bytes:
    buffer = io.BytesIO()
    result = pisa.CreatePDF(html, dest=buffer, encoding="utf-8", link_callback=_no_fetching)
    if result.err:
        raise PdfRenderError(f"xhtml2pdf reported {result.err} error(s)")
    return buffer.getvalue()
