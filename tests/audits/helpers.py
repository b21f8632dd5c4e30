"""Building blocks for the escalation and report tests: records with known dates, written through the services."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from audits.services import obligations_open
from emergencies import signals
from emergencies.models import BypassRequest
from emergencies.services.bypasses import BypassInput, bypass_request_create


def l1_details(at: datetime) -> dict:
    return {
        "reason": "lint rule false positive",
        "impact_assessment": "none for users",
        "risk_evaluation": "low",
        "remediation_due": (at + timedelta(days=1)).date(),
    }


def undecided_request(requester, *, repository: str, at: datetime) -> BypassRequest:
    """A level 1 request for a minor code-quality check, filed at ``at`` and left undecided."""
    return bypass_request_create(
        data=BypassInput(
            repository=repository,
            pull_request="#9",
            checks=["code_quality_minor"],
            production_impact="low",
            code_quality_only=True,
            details=l1_details(at),
        ),
        actor=requester,
        now=at,
    )


def granted_bypass(
    requester,
    approver,
    *,
    requested_at: datetime,
    decided_at: datetime,
    repository: str = "payments-api",
    checks=("code_quality_minor",),
    impact: str = "low",
) -> BypassRequest:
    """A level 1 bypass requested and granted at known times.

    Activation mirrors ``emergencies.services.bypasses._activate_if_complete`` (whose clock is the wall clock):
    the transition with its time, then the lifecycle signal, which opens the remediation clocks.
    """
    bypass = bypass_request_create(
        data=BypassInput(
            repository=repository,
            pull_request="#1",
            checks=list(checks),
            production_impact=impact,
            code_quality_only=True,
            details=l1_details(requested_at),
        ),
        actor=requester,
        now=requested_at,
    )
    with transaction.atomic():
        bypass = BypassRequest.objects.select_for_update().get(pk=bypass.pk)
        bypass.activate(by=approver, at=decided_at, reason="signed by the lead")
        bypass._history_user, bypass._change_reason = approver, "active"
        bypass.save()
        signals.bypass_activated.send(sender=BypassRequest, bypass=bypass, actor=approver, at=decided_at)
    return bypass


def register_test_kinds(*kinds: str) -> None:
    """Test set-up: clock kinds the escalation tests invent, met in the tests by ``obligations_satisfy``."""
    from audits.clocks import OBLIGATION_KINDS, ClockKind

    for kind in kinds:
        OBLIGATION_KINDS.setdefault(kind, ClockKind("test set-up: obligations_satisfy", "test set-up"))


def open_clocks(subject, *, owner, due_at: datetime, count: int, kind: str = "action_item", started_at=None):
    """``count`` clocks of one kind on one subject, all due at ``due_at``."""
    register_test_kinds(kind)
    return obligations_open(
        subject=subject,
        specs=[
            {"kind": kind, "key": str(i), "label": f"Action item {i}", "owner": owner, "due_at": due_at}
            for i in range(count)
        ],
        started_at=started_at or due_at - timedelta(days=1),
        actor=None,
        subject_url=subject.get_absolute_url(),
    )
