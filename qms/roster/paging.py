"""Notifications to a role: to its on-call primary when the role keeps a roster, to the backup when the
primary has not acknowledged within the response time, and to the whole group when it keeps none.

``notification_queue_roles`` is what the lifecycle calls instead of collecting a role's group itself; the
beat job ``oncall_escalate_task`` runs ``page_escalate_due``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from qms.models import Notification, User
from qms.roles import KEY_ROLES, Role
from qms.roster.models import OnCallPage
from qms.roster.response import response_time
from qms.roster.schedule import Coverage, roster_load
from qms.services.notifications import absolute_url, notification_queue

ACK_SALT = "qms.roster.acknowledge"
ACK_MAX_AGE = 14 * 24 * 3600


def ack_token(page: OnCallPage, user: User) -> str:
    return signing.dumps({"page": page.pk, "user": user.pk}, salt=ACK_SALT, compress=True)


def ack_token_read(token: str) -> tuple[int, int] | None:
    """(page id, user id) of a valid token, None for a forged, altered or expired one."""
    try:
        data = signing.loads(token, salt=ACK_SALT, max_age=ACK_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("page"), int) or not isinstance(data.get("user"), int):
        return None
    return data["page"], data["user"]


def ack_url(page: OnCallPage, user: User) -> str:
    return absolute_url(reverse("qms:oncall-ack", args=[ack_token(page, user)]))


def _footer(page: OnCallPage, user: User, *, backup: bool) -> tuple[str, str]:
    url = ack_url(page, user)
    role = Role(page.role).label
    due = f"{page.respond_by:%Y-%m-%d %H:%M} UTC"
    what = "as backup: the primary has not answered" if backup else f"please acknowledge by {due}"
    text = f"You are on call as {role} ({what}). Acknowledge in one click: {url}"
    html = f'<p><strong>You are on call as {role}</strong> ({what}). <a href="{url}">Acknowledge</a></p>'
    return text, html


def notification_queue_roles(
    *,
    roles: Iterable[Role],
    also: Iterable[User] = (),
    dedupe_prefix: str,
    template: str,
    context: dict,
    link: str = "",
    severity: str = "",
    definition: dict | None = None,
    now: datetime | None = None,
    **kwargs,
) -> list[Notification]:
    """``notification_queue`` to everyone who answers for ``roles`` now, plus ``also``.

    A key role with someone on call as primary is paged (one ``OnCallPage`` per event and role, acknowledged
    from the message); any other role — no roster, or a gap in it — reaches its whole group as before."""
    now = now or timezone.now()
    roles = list(dict.fromkeys(roles))
    keyed = tuple(r for r in roles if r in KEY_ROLES)
    rosters = roster_load(roles=keyed, start=now, end=now + timedelta(seconds=1)) if keyed else {}
    paged: dict[Role, Coverage] = {}
    group_roles = []
    for role in roles:
        roster = rosters.get(role)
        primary, _ = roster.on_call("primary", now) if roster else (None, "")
        if primary is None:
            group_roles.append(role)
        else:
            backup, _ = roster.on_call("backup", now)
            paged[role] = Coverage(role, primary, backup if backup != primary else None)
    people = {u.pk: u for u in also}
    if group_roles:
        group = User.objects.filter(is_active=True, groups__name__in=[r.group_name for r in group_roles]).distinct()
        people.update((u.pk, u) for u in group)
    pages = [_page(role, coverage, dedupe_prefix, severity, definition, link, now) for role, coverage in paged.items()]
    footers: dict[int, list[tuple[str, str]]] = {}
    for page in pages:
        people.setdefault(page.primary_id, page.primary)
        if page.acknowledged_at is None and page.escalated_at is None:
            footers.setdefault(page.primary_id, []).append(_footer(page, page.primary, backup=False))
    rows = notification_queue(
        recipients=list(people.values()),
        dedupe_prefix=dedupe_prefix,
        template=template,
        context=context,
        link=link,
        footers={pk: _joined(parts) for pk, parts in footers.items()},
        **kwargs,
    )
    subjects = {r.recipient_id: r.subject for r in rows if r.recipient_id}
    for page in pages:
        if not page.subject and page.primary_id in subjects:
            page.subject = subjects[page.primary_id]
            page.save(update_fields=["subject"])
    return rows


def _joined(parts: list[tuple[str, str]]) -> tuple[str, str]:
    return "\n".join(p[0] for p in parts), "".join(p[1] for p in parts)


def _page(role, coverage, dedupe_prefix, severity, definition, link, now) -> OnCallPage:
    existing = OnCallPage.objects.filter(dedupe_prefix=dedupe_prefix[:200], role=role.value).first()
    if existing is not None:
        return existing
    page = OnCallPage(
        role=role.value,
        dedupe_prefix=dedupe_prefix[:200],
        severity=severity[:32],
        subject="",
        link=absolute_url(link)[:500],
        primary=coverage.primary,
        backup=coverage.backup,
        paged_at=now,
        respond_by=now + response_time(definition, severity),
    )
    page._change_reason = "paged the on-call primary"
    try:
        with transaction.atomic():
            page.save()
    except IntegrityError:  # the same event paged at the same moment by another worker
        return OnCallPage.objects.get(dedupe_prefix=dedupe_prefix[:200], role=role.value)
    return page


def page_escalate_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Page the backup of every page its primary left unacknowledged past the response time (the whole group
    when the role had no backup). Safe to run twice: a page is escalated once."""
    from qms.roster.services import roster_event

    now = now or timezone.now()
    due = list(
        OnCallPage.objects.filter(acknowledged_at__isnull=True, escalated_at__isnull=True, respond_by__lte=now)
        .order_by("respond_by")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for pk in due:
        with transaction.atomic():
            page = (
                OnCallPage.objects.select_for_update(of=("self",))
                .select_related("primary", "backup")
                .filter(pk=pk, acknowledged_at__isnull=True, escalated_at__isnull=True)
                .first()
            )
            if page is None:
                continue
            role = Role(page.role)
            if page.backup is not None and page.backup.is_active:
                recipients = [page.backup]
            else:
                recipients = list(
                    User.objects.filter(is_active=True, groups__name=role.group_name).exclude(pk=page.primary_id)
                )
            page.escalated_at = now
            page._change_reason = "escalated: not acknowledged within the response time"
            page.save()
            footers = {u.pk: _footer(page, u, backup=True) for u in recipients if u.pk == page.backup_id}
            notification_queue(
                recipients=recipients,
                dedupe_prefix=f"oncall-escalated:{page.pk}",
                template="oncall_escalated",
                context={"page": page, "role": role.label, "primary": page.primary.display_name},
                link=page.link,
                footers=footers,
                skip_channels=True,
            )
            roster_event.send(
                sender=OnCallPage,
                action="escalated",
                actor=None,
                role=role,
                subject=page,
                reason=f"{page.primary.display_name} did not acknowledge “{page.subject}” by "
                f"{page.respond_by:%Y-%m-%d %H:%M} UTC",
                after={"to": [u.username for u in recipients]},
            )
            done += 1
    return done
