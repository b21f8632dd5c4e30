"""The reads of bypass requests, with their queries fixed in advance: the list, one request, its remediation,
the emergency bypass of a change (and the incident commander it names), the requests awaiting one's signature,
and the signatures of a list of subjects."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from emergencies import permissions
from emergencies.models import BypassRequest, ChangeRecord
from emergencies.selectors.changes import _versions
from qms.models import User
from qms.roles import Role

BYPASS_RELATED = (
    "procedure_version__procedure",
    "requested_by",
    "implementer",
    "remediation_assignee",
    "incident",
    "change",
)


def bypass_list(*, user: User, status: str = "", level: str = "", q: str = "") -> QuerySet[BypassRequest]:
    """The bypass requests a user may see, filtered, newest first, with their people, records and procedure."""
    qs = _bypasses_filtered(user=user, status=status, level=level, q=q)
    return qs.select_related(*BYPASS_RELATED[1:]).prefetch_related(_versions())


# What a row of the bypass list page shows: the request without its other columns, people and procedure version.
BYPASS_ROW_FIELDS = (
    "identifier",
    "level",
    "repository",
    "pull_request",
    "status",
    "requested_at",
    "change__identifier",
    "requested_by__username",
    "requested_by__first_name",
    "requested_by__last_name",
)


def bypass_list_rows(*, user: User, status: str = "", level: str = "", q: str = "") -> QuerySet[BypassRequest]:
    """The bypass list page's rows: :func:`bypass_list`'s records, reading only :data:`BYPASS_ROW_FIELDS`."""
    qs = _bypasses_filtered(user=user, status=status, level=level, q=q)
    return qs.select_related("change", "requested_by").only(*BYPASS_ROW_FIELDS)


def _bypasses_filtered(*, user: User, status: str, level: str, q: str) -> QuerySet[BypassRequest]:
    if not permissions.can_view_changes(user):
        return BypassRequest.objects.none()
    qs = BypassRequest.objects.all()
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


# The awaiting-signature widget reads the newest pending requests a batch at a time and stops once it has found
# ``limit``: at 10^5 changes a commander's first batch usually fills it, where reading all ``scan`` requests
# (each a wide row with its change and incident) was most of the dashboard's time.
AWAITING_BATCH = 50


def bypasses_awaiting_signature(*, user: User, limit: int = 20, scan: int = 200) -> list[BypassRequest]:
    """Pending requests with a slot this user could fill, in a role they hold or were delegated (same rules
    as signing: nobody signs twice, nor on behalf of the requester or of someone who signed already). The
    newest ``scan`` pending requests are considered, newest first."""
    from qms.services.delegation import delegated_roles

    delegated = delegated_roles(user) if user.is_authenticated else {}
    roles = user.roles | set(delegated)
    if not roles:
        return []
    pending = (
        BypassRequest.objects.select_related("incident", "change")
        # Prefetched, not joined: a handful of procedure versions, each definition decoded (and its rules
        # built) once rather than once per request.
        .prefetch_related("procedure_version")
        .filter(status=BypassRequest.Status.PENDING)
        .exclude(requested_by=user)
        .order_by("-requested_at", "-pk")
    )
    waiting: list[BypassRequest] = []
    after = Q()
    for read in range(0, scan, AWAITING_BATCH):
        batch = list(pending.filter(after)[: min(AWAITING_BATCH, scan - read)])
        waiting += _awaiting_in(batch, user=user, roles=roles, delegated=delegated)
        if len(waiting) >= limit or len(batch) < AWAITING_BATCH:
            break
        last = batch[-1]  # the next batch: older than the last one read (keyset, not offset)
        after = Q(requested_at__lt=last.requested_at) | Q(requested_at=last.requested_at, pk__lt=last.pk)
    return waiting[:limit]


def _awaiting_in(batch: list[BypassRequest], *, user: User, roles: set, delegated: dict) -> list[BypassRequest]:
    from emergencies.services.bypasses import bypass_signer_roles, bypass_slot_status
    from qms.services.delegation import signature_persons

    # Only the requests that ask for a role this user holds or was delegated have their signatures read.
    candidates = [bypass for bypass in batch if bypass_signer_roles(bypass) & roles]
    signatures = signatures_by_subject(candidates)
    waiting = []
    for bypass in candidates:
        slots = bypass_slot_status(bypass, signatures.get(bypass.pk, []))
        taken = set().union(*(signature_persons(s.signature) for s in slots if s.filled))
        if user.pk in taken:
            continue
        refused = taken | {bypass.requested_by_id}
        open_roles = {r for s in slots if not s.filled for r in s.roles} & roles
        if any(r in user.roles or delegated[r].delegator_id not in refused for r in open_roles):
            waiting.append(bypass)
    return waiting


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
