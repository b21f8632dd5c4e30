"""Shared pieces of the on-call roster tests: an iCalendar file as a calendar tool exports it."""

from __future__ import annotations

from datetime import datetime

ICS_HEAD = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Example Corp//Roster//EN\r\n"
ICS_TAIL = "END:VCALENDAR\r\n"


def ical_event(
    *, uid: str, start: datetime, end: datetime | None, summary: str, attendee: str = "", rrule: str = ""
) -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{start:%Y%m%dT%H%M%SZ}"]
    if end is not None:
        lines.append(f"DTEND:{end:%Y%m%dT%H%M%SZ}")
    if rrule:
        lines.append(f"RRULE:{rrule}")
    lines.append(f"SUMMARY:{summary}")
    if attendee:
        lines.append(f"ATTENDEE;CN=On call:mailto:{attendee}")
    lines.append("END:VEVENT")
    return "\r\n".join(lines) + "\r\n"


def ical(*events: str) -> bytes:
    return (ICS_HEAD + "".join(events) + ICS_TAIL).encode()
