"""Every read a page needs, with its queries fixed in advance (select_related / prefetch_related)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, Prefetch, Q, QuerySet
from django.http import Http404

from emergencies import permissions
from emergencies.models import BypassRequest, ChangeRecord, HandoffRequest
from qms.models import ProcedureVersion, User
from qms.roles import Role

CHANGE_LIST_RELATED = ("incident", "incident__commander", "author", "procedure_version__procedure")
# Lists load each row's procedure version by prefetch, not by join: a join decodes the version's JSON definition
# once per row (50 times for a page of one version: most of the change list's time), a prefetch once per version.
LIST_JOINED = ("incident", "incident__commander", "author")


def _versions() -> Prefetch:
    return Prefetch("procedure_version", queryset=ProcedureVersion.objects.select_related("procedure"))


def change_list(
    *, user: User, status: str = "", q: str = "", open_only: bool = False, procedure_version: int | None = None
) -> QuerySet[ChangeRecord]:
    if not permissions.can_view_changes(user):
        return ChangeRecord.objects.none()
    qs = ChangeRecord.objects.select_related(*LIST_JOINED).prefetch_related(_versions())
    if procedure_version:
        qs = qs.filter(procedure_version_id=procedure_version)
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=ChangeRecord.UNFINISHED_STATUSES)
    if q:
        qs = qs.filter(Q(identifier__icontains=q) | Q(title__icontains=q) | Q(incident__ticket__icontains=q))
    return qs.order_by("-declared_at", "-identifier")


def change_get_for_user(*, identifier: str, user: User) -> ChangeRecord:
    """The change a user may see, or 404 (we never confirm that a hidden record exists)."""
    if not permissions.can_view_changes(user):
        raise Http404
    change = (
        ChangeRecord.objects.select_related(*CHANGE_LIST_RELATED, "bypass_authorised_by", "parent")
        .filter(identifier=identifier)
        .first()
    )
    if change is None:
        raise Http404
    return change


def change_history(*, change: ChangeRecord, limit: int = 200):
    return change.history.select_related("history_user").order_by("-history_date", "-history_id")[:limit]


def commanders() -> QuerySet[User]:
    return User.objects.filter(is_active=True, groups__name=Role.COMMANDER.group_name).order_by("first_name")


def my_open_changes(*, user: User, limit: int = 20) -> list[ChangeRecord]:
    return list(change_list(user=user, open_only=True).filter(Q(author=user) | Q(incident__commander=user))[:limit])


BYPASS_RELATED = (
    "procedure_version__procedure",
    "requested_by",
    "implementer",
    "remediation_assignee",
    "incident",
    "change",
)


def bypass_list(*, user: User, status: str = "", level: str = "", q: str = "") -> QuerySet[BypassRequest]:
    if not permissions.can_view_changes(user):
        return BypassRequest.objects.none()
    qs = BypassRequest.objects.select_related(*BYPASS_RELATED[1:]).prefetch_related(_versions())
    if status:
        qs = qs.filter(status=status)
    if level:
        qs = qs.filter(level=level)
    if q:
        qs = qs.filter(Q(identifier__icontains=q) | Q(repository__icontains=q) | Q(pull_request__icontains=q))
    return qs.order_by("-requested_at", "-identifier")


def bypass_get_for_user(*, identifier: str, user: User) -> BypassRequest:
    if not permissions.can_view_changes(user):
        raise Http404
    bypass = BypassRequest.objects.select_related(*BYPASS_RELATED).filter(identifier=identifier).first()
    if bypass is None:
        raise Http404
    return bypass


def bypass_remediation_status(*, bypass: BypassRequest) -> list[tuple[str, str, object]]:
    """(check, label, its BypassRemediation or None) for each check a level 1-3 bypass skipped. One query."""
    done = {r.gate: r for r in bypass.remediations.select_related("validated_by")}
    rules = bypass.rules
    order = list(rules.gate_catalogue)
    checks = sorted(bypass.checks, key=lambda g: order.index(g) if g in order else len(order))
    return [(gate, rules.check_label(gate), done.get(gate)) for gate in checks]


def emergency_bypass_for_change(*, change: ChangeRecord) -> BypassRequest | None:
    return (
        BypassRequest.objects.select_related("procedure_version", "incident")
        .filter(change=change, level=BypassRequest.Level.EMERGENCY)
        .order_by("-requested_at")
        .first()
    )


def incident_commander_name(*, change: ChangeRecord, bypass: BypassRequest | None = None) -> str:
    """Who commands the incident: the commander named on the incident, or else the one who signed as
    incident commander (the emergency bypass's authorisation, then the post-mortem's approval)."""
    from django.contrib.contenttypes.models import ContentType

    from emergencies.models import PostMortem
    from qms.models import Signature

    if change.incident_id and change.incident.commander_id:
        return change.incident.commander.display_name
    bypass = bypass if bypass is not None else emergency_bypass_for_change(change=change)
    subjects = Q(
        subject_type=ContentType.objects.get_for_model(PostMortem),
        subject_id__in=PostMortem.objects.filter(change=change).values("pk"),
    )
    if bypass is not None:
        subjects |= Q(subject_type=ContentType.objects.get_for_model(BypassRequest), subject_id=bypass.pk)
    signature = (
        Signature.objects.filter(subjects, role=Role.COMMANDER.value)
        .exclude(meaning=Signature.Meaning.REJECTED)
        .order_by("signed_at", "pk")
        .first()
    )
    return signature.signer_name if signature else ""


def bypasses_awaiting_signature(*, user: User, limit: int = 20, scan: int = 200) -> list[BypassRequest]:
    """Pending requests with a slot this user could fill, in a role they hold or were delegated (same rules
    as signing: nobody signs twice, nor on behalf of the requester or of someone who signed already)."""
    from emergencies.services.bypasses import bypass_slot_status
    from qms.services.delegation import delegated_roles, signature_persons

    delegated = delegated_roles(user) if user.is_authenticated else {}
    roles = user.roles | set(delegated)
    if not roles:
        return []
    pending = list(
        BypassRequest.objects.select_related("incident", "change")
        # Prefetched, not joined: a handful of procedure versions, each definition decoded (and its rules
        # built) once rather than once per request.
        .prefetch_related("procedure_version")
        .filter(status=BypassRequest.Status.PENDING)
        .exclude(requested_by=user)
        .order_by("-requested_at")[:scan]
    )
    signatures = signatures_by_subject(pending)
    waiting = []
    for bypass in pending:
        slots = bypass_slot_status(bypass, signatures.get(bypass.pk, []))
        taken = set().union(*(signature_persons(s.signature) for s in slots if s.filled))
        if user.pk in taken:
            continue
        refused = taken | {bypass.requested_by_id}
        open_roles = {r for s in slots if not s.filled for r in s.roles} & roles
        if any(r in user.roles or delegated[r].delegator_id not in refused for r in open_roles):
            waiting.append(bypass)
    return waiting[:limit]


def signatures_by_subject(subjects) -> dict[int, list]:
    from django.contrib.contenttypes.models import ContentType

    from qms.models import Signature

    if not subjects:
        return {}
    ct = ContentType.objects.get_for_model(type(subjects[0]))
    grouped: dict[int, list] = {}
    for signature in Signature.objects.filter(subject_type=ct, subject_id__in=[s.pk for s in subjects]).order_by(
        "signed_at", "pk"
    ):
        grouped.setdefault(signature.subject_id, []).append(signature)
    return grouped


def changes_with_findings(*, user: User, limit: int = 200):
    """Emergency changes still open or closed recently, each with its EMG codes, in a fixed number of queries."""
    from emergencies.models import PostMortem, PreventiveMeasure
    from emergencies.validation import findings

    if not permissions.can_view_changes(user):
        return []
    changes = list(
        ChangeRecord.objects.select_related(*LIST_JOINED)
        .filter(level=ChangeRecord.Level.EMERGENCY)
        .prefetch_related(
            _versions(),
            Prefetch(
                "bypasses",
                queryset=BypassRequest.objects.filter(level=BypassRequest.Level.EMERGENCY),
                to_attr="emergency_bypasses",
            ),
            Prefetch("post_mortem__preventive_measures", queryset=PreventiveMeasure.objects.all()),
        )
        .order_by("-declared_at")[:limit]
    )
    rows = []
    for change in changes:
        bypass = change.emergency_bypasses[0] if change.emergency_bypasses else None
        try:
            post_mortem = change.post_mortem
        except PostMortem.DoesNotExist:
            post_mortem = None
        found = findings(change, bypass=bypass, post_mortem=post_mortem, prefetched=True)
        if found:
            rows.append((change, found))
    return rows


# --- the war room ----------------------------------------------------------------------------------------


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


# --- hand-offs -------------------------------------------------------------------------------------------

HANDOFF_RELATED = ("assignee", "requested_by", "change")


def handoffs_waiting_for(*, user: User, limit: int = 50) -> list[HandoffRequest]:
    """What others asked of this person, or of a role they hold, and is still open: oldest first."""
    if not (user.is_authenticated and user.is_active):
        return []
    roles = [r.value for r in user.roles]
    mine = Q(assignee=user) | Q(assignee=None, role__in=roles)
    qs = HandoffRequest.objects.filter(mine, status=HandoffRequest.Status.OPEN).exclude(requested_by=user)
    return list(qs.select_related(*HANDOFF_RELATED).order_by("requested_at", "pk")[:limit])


def handoffs_asked_by(*, user: User, limit: int = 20) -> list[HandoffRequest]:
    qs = HandoffRequest.objects.filter(requested_by=user, status=HandoffRequest.Status.OPEN)
    return list(qs.select_related(*HANDOFF_RELATED).order_by("requested_at", "pk")[:limit])


def handoffs_for_change(*, change: ChangeRecord, limit: int = 50) -> list[HandoffRequest]:
    """Every request of a change (open ones first), whatever record of the change it is taken on."""
    qs = HandoffRequest.objects.filter(change=change).select_related(*HANDOFF_RELATED)
    return _open_first(qs, limit)


def handoffs_for_subject(*, subject: Model, limit: int = 50) -> list[HandoffRequest]:
    qs = HandoffRequest.objects.filter(subject_type=ContentType.objects.get_for_model(subject), subject_id=subject.pk)
    return _open_first(qs.select_related(*HANDOFF_RELATED), limit)


def handoff_candidates(*, change: ChangeRecord, exclude: User) -> QuerySet[User]:
    """People who could be asked for a step of this change: active, holding a role that works on it."""
    roles = [r.group_name for r in Role if r.value != Role.AUDITOR]
    qs = User.objects.filter(is_active=True, groups__name__in=roles).exclude(pk=exclude.pk).distinct()
    return qs.order_by("first_name", "last_name", "username")


def _open_first(qs, limit: int) -> list[HandoffRequest]:
    rows = list(qs.order_by("-requested_at", "-pk")[:limit])
    return sorted(rows, key=lambda r: not r.is_open)
