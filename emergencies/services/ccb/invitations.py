"""The members' notifications and the session's calendar invitation (iCalendar)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from emergencies.models import CCBMember, CCBSession
from qms.models import User
from qms.services import notification_queue

# --- notifications and the calendar invitation -------------------------------------------------------------


def _notify(
    session: CCBSession, members: Iterable[CCBMember], *, template: str, key: str, actor: User, ics: bool = False
) -> None:
    members = list(members)
    change = session.change
    attachment = None
    if ics:
        everyone = list(CCBMember.objects.filter(session=session).select_related("user"))
        method = "CANCEL" if session.status == CCBSession.Status.CANCELLED else "REQUEST"
        attachment = (f"{session.identifier}.ics", ccb_session_ics(session, everyone, method=method), "text/calendar")
    notification_queue(
        recipients=[m.user for m in members],
        dedupe_prefix=key,
        template=template,
        context={
            "session": session,
            "change": change,
            "gate": change.rules.ccb_gate(session.gate),
            "outcome_label": change.rules.ccb_outcome_label(change.rules.ccb_gate(session.gate), session.outcome)
            if session.outcome
            else "",
            "waivers": session.waiver_labels,
            "actor": actor,
        },
        link=session.get_absolute_url(),
        attachment=attachment,
    )


def _ics_escape(value: str) -> str:
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _ics_fold(line: str) -> str:
    """RFC 5545 §3.1: lines longer than 75 octets continue on the next line after a space."""
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        piece = char.encode()
        if len(current) + len(piece) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += piece
    parts.append(current.decode())
    return "\r\n ".join(parts)


def ccb_session_ics(session: CCBSession, members: list[CCBMember], *, method: str = "REQUEST") -> str:
    """An iCalendar invitation (RFC 5545) to the session, for every member."""
    change = session.change
    gate = change.rules.ccb_gate(session.gate)
    url = f"{settings.PORTAL_BASE_URL}{session.get_absolute_url()}"
    host = urlsplit(settings.PORTAL_BASE_URL).hostname or "qms-portal"
    start = session.scheduled_at.astimezone(UTC)
    end = start + timedelta(minutes=session.duration_minutes)
    stamp = timezone.now().astimezone(UTC)
    fmt = "%Y%m%dT%H%M%SZ"
    description = "\n".join(
        part
        for part in (
            f"{gate.label}: {gate.question}",
            f"Change: {change.identifier} {change.title}",
            session.agenda,
            f"Vote and see who has voted: {url}",
        )
        if part
    )
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//QMS Emergency Portal//Emergency CCB//EN",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{session.identifier}@{host}",
        f"DTSTAMP:{stamp:{fmt}}",
        f"DTSTART:{start:{fmt}}",
        f"DTEND:{end:{fmt}}",
        f"SEQUENCE:{1 if method == 'CANCEL' else 0}",
        f"STATUS:{'CANCELLED' if method == 'CANCEL' else 'CONFIRMED'}",
        f"SUMMARY:{_ics_escape(f'Emergency CCB {session.identifier}: {gate.label} ({change.identifier})')}",
        f"DESCRIPTION:{_ics_escape(description)}",
        f"URL:{url}",
    ]
    if session.location:
        lines.append(f"LOCATION:{_ics_escape(session.location)}")
    chair = session.chair
    if chair.email:
        lines.append(f"ORGANIZER;CN={_ics_escape(chair.display_name)}:mailto:{chair.email}")
    for member in members:
        if member.user.email:
            lines.append(
                f"ATTENDEE;CN={_ics_escape(member.user.display_name)};ROLE=REQ-PARTICIPANT;"
                f"PARTSTAT=NEEDS-ACTION:mailto:{member.user.email}"
            )
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(_ics_fold(line) for line in lines) + "\r\n"
