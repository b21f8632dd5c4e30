"""Report periods, in UTC: a day, a Monday-to-Monday week, a calendar month. Each is [start, end)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

KINDS = ("daily", "weekly", "monthly")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def period_bounds(kind: str, day: date | datetime) -> tuple[datetime, datetime]:
    """The period of ``kind`` that contains ``day`` (a date, or a datetime read in UTC)."""
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date()
    if kind == "daily":
        start = day
        end = start + timedelta(days=1)
    elif kind == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif kind == "monthly":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"Unknown report kind {kind!r}; one of {', '.join(KINDS)}.")
    return _midnight(start), _midnight(end)


def last_complete_period(kind: str, now: datetime) -> tuple[datetime, datetime]:
    """The latest period of ``kind`` that has ended by ``now`` (yesterday, last week, last month)."""
    start, _ = period_bounds(kind, now)
    return period_bounds(kind, start - timedelta(days=1))


def previous_periods(kind: str, start: datetime, count: int) -> list[tuple[datetime, datetime]]:
    """``count`` periods ending with the one that starts at ``start``, oldest first (for trends)."""
    periods = [period_bounds(kind, start)]
    while len(periods) < count:
        periods.insert(0, period_bounds(kind, periods[0][0] - timedelta(days=1)))
    return periods
