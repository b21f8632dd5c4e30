"""Deadlines: calendar or business time, as a procedure says."""

from __future__ import annotations

from datetime import datetime, timedelta

UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def add_business_days(start: datetime, days: int) -> datetime:
    """Add whole business days (Monday to Friday), keeping the time of day.

    A start on a weekend counts from the next Monday at the same time.
    """
    current = start
    while current.weekday() >= 5:
        current += timedelta(days=1)
    remaining = days
    while remaining > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            remaining -= 1
    return current


def deadline(start: datetime, *, amount: int | float, unit: str, basis: str = "calendar") -> datetime:
    if unit not in UNITS:
        raise ValueError(f"Unknown time unit {unit!r}.")
    if basis == "business":
        if unit != "days":
            raise ValueError("Business time is counted in whole days.")
        return add_business_days(start, int(amount))
    if basis != "calendar":
        raise ValueError(f"Unknown day basis {basis!r}.")
    return start + timedelta(seconds=amount * UNITS[unit])


def humanize_duration(delta: timedelta) -> str:
    seconds = int(abs(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"
