from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from subscriptions import services
from subscriptions.models import Invoice
from subscriptions.tests.parallel import run_in_processes

PER_PROCESS = 25
PROCESSES = 6


def create_invoices(index: int, user_pk: int) -> list[str]:
    """Runs in a child process: issue invoices as fast as possible."""
    user = get_user_model().objects.get(pk=user_pk)
    numbers = []
    for i in range(PER_PROCESS):
        invoice = services.invoice_create(
            user=user,
            lines=[services.LineSpec(description=f"p{index} #{i}", unit_amount=Decimal("1000"))],
        )
        numbers.append(invoice.number)
    return numbers


@pytest.mark.django_db
@pytest.mark.clock_sensitive  # the year is Jakarta's: 1 Jan starts at 17:00 UTC on 31 Dec
def test_invoice_numbers_are_sequential_per_year(alice):
    year = timezone.localtime().year
    numbers = [
        services.invoice_create(
            user=alice, lines=[services.LineSpec(description="x", unit_amount=Decimal("1"))]
        ).number
        for _ in range(3)
    ]
    assert numbers == [f"INV-{year}-000001", f"INV-{year}-000002", f"INV-{year}-000003"]


@pytest.mark.django_db
def test_a_draft_gets_its_number_only_when_issued(alice):
    draft = services.invoice_create(
        user=alice,
        lines=[services.LineSpec(description="x", unit_amount=Decimal("1"))],
        issue=False,
    )
    assert draft.number is None
    assert draft.status == "draft"
    issued = services.invoice_issue(invoice=draft)
    assert issued.number.endswith("-000001")
    assert issued.status == "open"
    assert issued.due_date > issued.issued_at


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_processes_never_share_an_invoice_number(alice):
    results = run_in_processes(
        "subscriptions.tests.test_invoice_numbering:create_invoices", PROCESSES, alice.pk
    )
    numbers = [number for batch in results for number in batch]
    total = PROCESSES * PER_PROCESS
    assert len(numbers) == total
    assert len(set(numbers)) == total
    year = timezone.localtime().year
    # No gaps either: the counter row hands out 1..N exactly once each.
    assert sorted(numbers) == [f"INV-{year}-{n:06d}" for n in range(1, total + 1)]
    assert Invoice.objects.count() == total
