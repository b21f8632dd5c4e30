"""The war room's read: an emergency's timeline, oldest first, in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q

from emergencies.models import ChangeRecord


@dataclass
class TimelineRow:
    """One row of an emergency's war-room timeline. ``key`` is stable (the post-mortem author picks rows
    by it); ``corrects`` is the key of the entry a correction replaces."""

    key: str
    at: datetime
    kind: str
    who: str
    text: str
    corrects: str = ""
    corrected_by: list[str] = field(default_factory=list)
    delivery: str = ""

    @property
    def summary(self) -> str:
        return f"{self.kind}: {self.text}" if self.kind else self.text


def war_room_timeline(*, change: ChangeRecord) -> list[TimelineRow]:
    """Everything that happened in one emergency, oldest first, in a fixed number of queries: the incident's
    detection and alerts, the responders' entries and status updates (with whether they were sent), and what
    the apps above record (transitions, signatures, votes, decisions, escalations; qms.registry)."""
    from emergencies.models import Alert, AlertSource, StatusUpdate, WarRoomEntry
    from qms.models import Notification
    from qms.registry import timeline_sources

    rows: list[TimelineRow] = []
    incident = change.incident
    if incident is not None:
        if incident.detected_at:
            rows.append(
                TimelineRow(f"inc-{incident.pk}-detected", incident.detected_at, "Detected", "", incident.title)
            )
        rows.append(
            TimelineRow(
                f"inc-{incident.pk}-opened",
                incident.declared_at,
                "Incident opened",
                "",
                f"{incident.ticket}: {incident.title}",
            )
        )
        history = Alert.history.filter(incident_id=incident.pk).order_by("history_date", "history_id")
        for h in history:
            rows.append(
                TimelineRow(
                    f"alert-h{h.history_id}",
                    h.history_date,
                    "Alert",
                    AlertSource(h.source).label if h.source in AlertSource.values else h.source,
                    f"{(h.history_change_reason or 'alert').capitalize()}: {h.title}",
                )
            )
    entries = list(WarRoomEntry.objects.filter(change=change).select_related("posted_by").order_by("posted_at", "pk"))
    by_key: dict[str, TimelineRow] = {}
    for e in entries:
        row = TimelineRow(
            f"entry-{e.pk}",
            e.posted_at,
            e.get_kind_display(),
            e.posted_by.display_name,
            e.text,
            corrects=f"entry-{e.corrects_id}" if e.corrects_id else "",
        )
        by_key[row.key] = row
        rows.append(row)
    for row in list(by_key.values()):
        if row.corrects in by_key:
            by_key[row.corrects].corrected_by.append(row.key)
    updates = list(StatusUpdate.objects.filter(change=change).select_related("posted_by").order_by("posted_at", "pk"))
    sent: dict[int, list[Notification]] = {}
    if updates:
        q = Q()
        for u in updates:
            q |= Q(dedupe_key__startswith=f"status-update:{u.pk}:")
        for n in Notification.objects.filter(q).only("dedupe_key", "sent_at", "last_error", "channel", "destination"):
            sent.setdefault(int(n.dedupe_key.split(":")[1]), []).append(n)
    for u in updates:
        rows.append(
            TimelineRow(
                f"update-{u.pk}",
                u.posted_at,
                f"Status update ({u.get_audience_display()})",
                u.posted_by.display_name,
                u.current_status,
                delivery=_delivery(sent.get(u.pk, [])),
            )
        )
    for source in timeline_sources():
        for item in source(change):
            rows.append(TimelineRow(item["key"], item["at"], item["kind"], item.get("who", ""), item["text"]))
    rows.sort(key=lambda r: (r.at, r.key))
    return rows


def _delivery(messages) -> str:
    if not messages:
        return "not sent to anyone: no audience is configured"
    done = [m for m in messages if m.sent_at]
    failing = [m for m in messages if not m.sent_at and m.last_error]
    text = f"sent {len(done)} of {len(messages)}"
    if failing:
        text += f"; {len(failing)} failing ({failing[0].last_error[:80]})"
    return text
