"""Oversight of training and delegation: audit events, the recertification clock on each person whose
certification lapses within 30 days, and the finding a signature given without certification raises."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.db.models import Max
from django.dispatch import receiver
from django.utils import timezone

from audits import services
from audits.clocks import TRAINING_KINDS
from audits.models import Obligation
from qms import signals as core
from qms.models import TrainingRecord, User

DEVIATION_DUE = timedelta(days=14)


def _day_end(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@receiver(core.training_recorded)
def on_training_recorded(sender, *, record, actor, **kwargs):
    services.audit_event_record(
        action="training.recorded",
        actor=actor,
        subject=record.user,
        reason=f"{record.course} completed {record.completed_on}, valid until {record.expires_on}",
        after={
            "record": record.pk,
            "course": record.course,
            "completed_on": record.completed_on,
            "expires_on": record.expires_on,
            "source": record.source,
            "evidence_reference": record.evidence_reference,
            "evidence_sha256": record.evidence_sha256,
        },
    )
    if record.expires_on <= timezone.localdate():
        return
    keys = list(
        Obligation.objects.filter(
            subject_type__model="user",
            subject_type__app_label="qms",
            subject_id=record.user_id,
            kind__in=TRAINING_KINDS,
            key__startswith=f"{record.course}:",
            satisfied_at__isnull=True,
        ).values_list("key", flat=True)
    )
    if keys:
        services.obligations_satisfy(
            subject=record.user,
            kinds=TRAINING_KINDS,
            keys=keys,
            actor=actor,
            note=f"training record #{record.pk}: {record.course} valid until {record.expires_on}",
        )


@receiver(core.training_deviation_signed)
def on_training_deviation(sender, *, signature, subject, **kwargs):
    from qms.services.qualification import subject_rules
    from qms.services.training import valid_until

    services.audit_event_record(
        action="signature.training_deviation",
        actor=signature.signer,
        subject=subject,
        reason=signature.training_deviation,
        after={"signature": signature.pk, "signer": signature.signer_name, "role": signature.role},
    )
    rules = subject_rules(subject)
    today = timezone.localdate()
    missing = [
        course
        for course, until in valid_until(signature.signer, rules.required_courses(signature.role), on=today).items()
        if until is None or until <= today
    ]
    labels = rules.courses
    services.obligations_open(
        subject=signature.signer,
        specs=[
            {
                "kind": "training_deviation",
                "key": f"{course}:sig{signature.pk}"[:64],
                "label": f"Complete {labels.get(course, {}).get('label', course)} (signed {subject} without it)",
                "owner": signature.signer,
                "due_at": signature.signed_at + DEVIATION_DUE,
            }
            for course in missing
        ],
        started_at=signature.signed_at,
        actor=signature.signer,
        subject_url="/training/",
    )


@receiver(core.delegation_created)
def on_delegation_created(sender, *, delegation, actor, **kwargs):
    services.audit_event_record(
        action="delegation.created",
        actor=actor,
        subject=delegation.delegator,
        reason=delegation.reason,
        after={
            "delegation": delegation.pk,
            "role": delegation.role,
            "delegator": delegation.delegator.display_name,
            "delegate": delegation.delegate.display_name,
            "starts_at": delegation.starts_at,
            "ends_at": delegation.ends_at,
        },
    )


@receiver(core.delegation_revoked)
def on_delegation_revoked(sender, *, delegation, actor, reason, **kwargs):
    services.audit_event_record(
        action="delegation.revoked",
        actor=actor,
        subject=delegation.delegator,
        reason=reason,
        after={"delegation": delegation.pk, "role": delegation.role, "delegate": delegation.delegate.display_name},
    )


def training_expiry_sweep(*, today=None) -> int:
    """Open a recertification clock on each person whose latest record of a course their roles require
    expires within the next 30 days (safe to run twice: a clock is keyed by course and expiry)."""
    from qms.services.training import LAPSE_WINDOW_DAYS, courses_current, role_requirements_current

    today = today or timezone.localdate()
    horizon = today + timedelta(days=LAPSE_WINDOW_DAYS)
    needs = role_requirements_current()
    courses = courses_current()
    latest = (
        TrainingRecord.objects.filter(user__is_active=True)
        .values("user_id", "course")
        .annotate(until=Max("expires_on"))
        .filter(until__gt=today, until__lte=horizon)
    )
    by_user: dict[int, list[tuple[str, object]]] = {}
    for row in latest:
        by_user.setdefault(row["user_id"], []).append((row["course"], row["until"]))
    opened = 0
    users = User.objects.filter(pk__in=by_user).prefetch_related("groups")
    for user in users:
        required = set().union(*(needs.get(role.value, set()) for role in user.roles)) if user.roles else set()
        specs = [
            {
                "kind": "recertification",
                "key": f"{course}:{until:%Y-%m-%d}",
                "label": f"Recertify {courses.get(course, {}).get('label', course)} (expires {until:%Y-%m-%d})",
                "owner": user,
                "due_at": _day_end(until),
            }
            for course, until in by_user[user.pk]
            if course in required
        ]
        if specs:
            opened += len(
                services.obligations_open(
                    subject=user, specs=specs, started_at=timezone.now(), actor=None, subject_url="/training/"
                )
            )
    return opened
