"""Calendar arithmetic for billing periods.

A month is a calendar month: Jan 31 + 1 month is Feb 28 (Feb 29 in a leap year).
Periods are counted from an anchor (``anchor + k * interval``) rather than chained
one after another, so a subscription started on Jan 31 renews on Feb 28, Mar 31,
Apr 30, and never drifts to the 28th for good. Arithmetic is done on the local
calendar of ``TIME_ZONE`` and the results stay timezone-aware.
"""

from __future__ import annotations

import calendar
import datetime as dt

from django.utils import timezone

DAY = "day"
WEEK = "week"
MONTH = "month"
YEAR = "year"


def _add_months(value: dt.datetime, months: int) -> dt.datetime:
    month_index = value.month - 1 + months
    year = value.year + month_index // 12
    month = month_index % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def add_interval(start: dt.datetime, unit: str, count: int = 1) -> dt.datetime:
    """``start`` moved by ``count`` calendar units, timezone-aware in, aware out."""
    if timezone.is_naive(start):
        raise ValueError("billing periods need timezone-aware datetimes")
    local = timezone.localtime(start)
    if unit == DAY:
        moved = local + dt.timedelta(days=count)
    elif unit == WEEK:
        moved = local + dt.timedelta(weeks=count)
    elif unit == MONTH:
        moved = _add_months(local, count)
    elif unit == YEAR:
        moved = _add_months(local, 12 * count)
    else:
        raise ValueError(f"unknown interval unit {unit!r}")
    # Re-localise so a DST change between the two dates keeps the wall-clock time.
    naive = moved.replace(tzinfo=None)
    return timezone.make_aware(naive, timezone.get_current_timezone())


def period_end(anchor: dt.datetime, unit: str, interval: int, index: int) -> dt.datetime:
    """End of the ``index``-th period (0-based) counted from ``anchor``."""
    return add_interval(anchor, unit, interval * (index + 1))


def next_boundary(anchor: dt.datetime, after: dt.datetime, unit: str, interval: int) -> dt.datetime:
    """The first ``anchor + k * interval`` (k >= 1) strictly later than ``after``."""
    if unit in (DAY, WEEK):
        step = dt.timedelta(days=interval * (7 if unit == WEEK else 1))
        k = max(1, int((after - anchor) / step))
    else:
        months = interval * (12 if unit == YEAR else 1)
        a, b = timezone.localtime(anchor), timezone.localtime(after)
        k = max(1, ((b.year - a.year) * 12 + (b.month - a.month)) // months)
        unit, interval = MONTH, months
    # The estimate is at most one step off in either direction.
    k = max(1, k - 1)
    while True:
        boundary = add_interval(anchor, unit, interval * k)
        if boundary > after:
            return boundary
        k += 1


def plan_period_end(plan, start: dt.datetime) -> dt.datetime:
    """The end of one period of ``plan`` started at ``start``."""
    return add_interval(start, plan.interval_unit, plan.interval)
