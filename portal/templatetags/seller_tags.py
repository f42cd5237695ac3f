"""``{% seller as seller %}``: the seller (``portal.seller.seller()``) in a template,
for pages, emails (rendered without a request) and the invoice PDF alike."""

from __future__ import annotations

from django import template

from ..seller import Seller
from ..seller import seller as read_seller

register = template.Library()


@register.simple_tag
def seller() -> Seller:
    return read_seller()
