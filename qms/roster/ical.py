"""Reading an on-call schedule from an iCalendar file (RFC 5545), as calendar tools export it.

Each event is one shift: its SUMMARY (or CATEGORIES) says the slot, "Primary" or "Backup"; the person is its
first ATTENDEE's email address, or the name after a colon in the summary ("Primary: alice" — a username or an
email address). Recurring events (RRULE, RDATE, EXDATE, moved occurrences) are expanded by
``recurring_ical_events`` up to the import's horizon. Times without a zone are read in the portal's zone;
all-day events run from midnight to midnight there. Nothing is imported unless every event is understood."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import icalendar
import recurring_ical_events
from django.core.exceptions import ValidationError
from django.utils import timezone

from qms.limits import LINE_MAX, LIST_MAX
from qms.models import User
from qms.roles import Role
from qms.roster.models import Slot

MAX_SHIFTS = 5_000
MAX_ERRORS = 20
SLOT_WORDS = {"primary": Slot.PRIMARY, "backup": Slot.BACKUP}


@dataclass(frozen=True)
class ParsedShift:
    slot: str
    user: User
    starts_at: datetime
    ends_at: datetime
    uid: str


def _aware(value) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, timezone.get_default_timezone())
    if isinstance(value, date):
        return timezone.make_aware(datetime.combine(value, time.min), timezone.get_default_timezone())
    raise ValueError("not a date or time")


def _slot_and_name(event) -> tuple[str | None, str]:
    summary = str(event.get("SUMMARY", "")).strip()
    word, _, rest = summary.partition(":")
    slot = SLOT_WORDS.get(word.strip().lower())
    if slot is None:
        match = re.match(r"\s*(primary|backup)\b", summary, re.IGNORECASE)
        slot = SLOT_WORDS[match.group(1).lower()] if match else None
    if slot is None:
        categories = event.get("CATEGORIES")
        for entry in categories if isinstance(categories, list) else [categories] if categories else []:
            for cat in getattr(entry, "cats", []):
                slot = slot or SLOT_WORDS.get(str(cat).strip().lower())
    return slot, rest.strip()


def _person_key(event, name: str) -> str:
    attendees = event.get("ATTENDEE")
    first = attendees[0] if isinstance(attendees, list) and attendees else attendees
    if first:
        address = str(first)
        return address[7:].strip().lower() if address.lower().startswith("mailto:") else address.strip().lower()
    return name.strip().lower()


def _label(event, index: int) -> str:
    uid = str(event.get("UID", "")).strip()
    summary = str(event.get("SUMMARY", "")).strip()
    return f"Event {index}" + (f" ({uid[:80]})" if uid else "") + (f" “{summary[:80]}”" if summary else "")


def ical_parse(*, content: bytes, role: Role, start: datetime, end: datetime) -> list[ParsedShift]:
    """The shifts of ``content`` overlapping [start, end); a ValidationError naming every problem otherwise."""
    if len(content) > LIST_MAX:
        raise ValidationError(
            {"file": f"The file is {len(content):,} bytes; at most {LIST_MAX:,} are imported at once."}
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError({"file": "The file is not UTF-8 text; export the calendar as .ics again."}) from exc
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise ValidationError({"file": f"This is not an iCalendar file ({str(exc)[:200]})."}) from exc
    if getattr(calendar, "name", "") != "VCALENDAR":
        raise ValidationError({"file": "This is not an iCalendar file (it has no VCALENDAR)."})
    events = list(calendar.walk("VEVENT"))
    if not events:
        raise ValidationError({"file": "The calendar has no events (VEVENT) to import."})
    errors: list[str] = []
    people = _people(events, role)
    for index, event in enumerate(events, start=1):
        label = _label(event, index)
        slot, name = _slot_and_name(event)
        if slot is None:
            errors.append(f"{label}: the summary must start with “Primary” or “Backup”.")
        key = _person_key(event, name)
        if not key:
            errors.append(f"{label}: no person: add an ATTENDEE with their email or write “Primary: username”.")
        elif key not in people:
            errors.append(f"{label}: {key[:100]} is not an active user holding the role {role.label}.")
        if event.get("DTSTART") is None:
            errors.append(f"{label}: it has no start (DTSTART).")
        if event.get("DTEND") is None and event.get("DURATION") is None and not _is_all_day(event):
            errors.append(f"{label}: it has no end (DTEND or DURATION).")
        if len(str(event.get("UID", ""))) > LINE_MAX:
            errors.append(f"{label}: its UID is longer than {LINE_MAX} characters.")
    if errors:
        raise ValidationError({"file": _capped(errors)})
    try:
        occurrences = recurring_ical_events.of(calendar).between(start, end)
    except Exception as exc:  # the library raises its own types for broken rules and dates
        raise ValidationError({"file": f"A recurrence could not be read ({type(exc).__name__}: {exc})."[:300]}) from exc
    shifts: list[ParsedShift] = []
    for occurrence in occurrences:
        if len(shifts) >= MAX_SHIFTS:
            raise ValidationError(
                {"file": f"More than {MAX_SHIFTS:,} shifts until the horizon; import a shorter period."}
            )
        slot, name = _slot_and_name(occurrence)
        begins = _aware(occurrence["DTSTART"].dt)
        if occurrence.get("DTEND") is not None:
            ends = _aware(occurrence["DTEND"].dt)
        elif occurrence.get("DURATION") is not None:
            ends = begins + occurrence["DURATION"].dt
        else:
            ends = begins + timedelta(days=1)
        if ends <= begins:
            errors.append(f"{_label(occurrence, len(shifts) + 1)}: it ends before it starts.")
            continue
        shifts.append(
            ParsedShift(slot, people[_person_key(occurrence, name)], begins, ends, str(occurrence.get("UID", "")))
        )
    if errors:
        raise ValidationError({"file": _capped(errors)})
    if not shifts:
        raise ValidationError({"file": f"No event falls between {start:%Y-%m-%d} and {end:%Y-%m-%d}."})
    return shifts


def _is_all_day(event) -> bool:
    start = event.get("DTSTART")
    return start is not None and isinstance(start.dt, date) and not isinstance(start.dt, datetime)


def _people(events, role: Role) -> dict[str, User]:
    """Active holders of ``role`` the events name, by lower-cased email address and username (one query)."""
    keys = {_person_key(e, _slot_and_name(e)[1]) for e in events} - {""}
    if not keys:
        return {}
    found: dict[str, User] = {}
    holders = User.objects.filter(is_active=True, groups__name=role.group_name).distinct()
    for user in holders:
        for key in (user.email.lower(), user.username.lower()):
            if key and key in keys:
                found[key] = user
    return found


def _capped(errors: list[str]) -> list[str]:
    if len(errors) <= MAX_ERRORS:
        return errors
    return [*errors[:MAX_ERRORS], f"… and {len(errors) - MAX_ERRORS} more."]
