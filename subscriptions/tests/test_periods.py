import datetime as dt
import zoneinfo

import pytest
from django.utils import timezone

from subscriptions.periods import add_interval, next_boundary

JKT = zoneinfo.ZoneInfo("Asia/Jakarta")


def at(year, month, day, hour=10):
    return dt.datetime(year, month, day, hour, tzinfo=JKT)


@pytest.mark.parametrize(
    ("start", "unit", "count", "expected"),
    [
        (at(2026, 1, 31), "month", 1, at(2026, 2, 28)),
        (at(2028, 1, 31), "month", 1, at(2028, 2, 29)),  # leap year
        (at(2026, 3, 31), "month", 1, at(2026, 4, 30)),
        (at(2026, 12, 15), "month", 1, at(2027, 1, 15)),
        (at(2026, 11, 30), "month", 3, at(2027, 2, 28)),
        (at(2028, 2, 29), "year", 1, at(2029, 2, 28)),
        (at(2028, 2, 29), "year", 4, at(2032, 2, 29)),
        (at(2026, 1, 1), "week", 2, at(2026, 1, 15)),
        (at(2026, 2, 28), "day", 1, at(2026, 3, 1)),
        (at(2026, 1, 31), "month", 12, at(2027, 1, 31)),
    ],
)
def test_adding_an_interval_is_calendar_arithmetic(start, unit, count, expected):
    assert add_interval(start, unit, count) == expected


def test_adding_an_interval_keeps_the_result_timezone_aware():
    result = add_interval(at(2026, 1, 31), "month")
    assert timezone.is_aware(result)


def test_adding_an_interval_to_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        add_interval(dt.datetime(2026, 1, 1), "month")


def test_an_unknown_unit_is_refused():
    with pytest.raises(ValueError, match="unknown interval"):
        add_interval(at(2026, 1, 1), "fortnight")


def test_periods_counted_from_a_month_end_anchor_do_not_drift():
    anchor = at(2026, 1, 31)
    boundaries = []
    current = anchor
    for _ in range(6):
        current = next_boundary(anchor, current, "month", 1)
        boundaries.append(current.date())
    assert boundaries == [
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
        dt.date(2026, 6, 30),
        dt.date(2026, 7, 31),
    ]


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (at(2026, 1, 1, 9), at(2026, 1, 1)),  # a moment before the anchor: first period
        (at(2026, 1, 1), at(2026, 2, 1)),  # exactly on the anchor: strictly later
        (at(2026, 5, 20), at(2026, 6, 1)),
        (at(2027, 1, 1), at(2027, 2, 1)),
    ],
)
def test_next_boundary_is_the_first_anchor_multiple_strictly_after(after, expected):
    anchor = at(2025, 12, 1)
    assert next_boundary(anchor, after, "month", 1) == expected


def test_next_boundary_for_weekly_and_yearly_plans():
    anchor = at(2026, 1, 5)
    assert next_boundary(anchor, at(2026, 1, 20), "week", 1) == at(2026, 1, 26)
    assert next_boundary(anchor, at(2026, 1, 20), "week", 2) == at(2026, 2, 2)
    assert next_boundary(at(2028, 2, 29), at(2029, 1, 1), "year", 1) == at(2029, 2, 28)
    assert next_boundary(at(2028, 2, 29), at(2031, 3, 1), "year", 1) == at(2032, 2, 29)
