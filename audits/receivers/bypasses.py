"""Oversight of bypasses and signatures: each request, decision, remediation and signature audited, and the
review, remediation and verbal-confirmation clocks opened and met."""

from django.dispatch import receiver
from django_fsm.signals import post_transition

from audits import services
from emergencies import signals as lifecycle
from emergencies.models import BypassRequest
from emergencies.services.bypasses import remediation_due_date
from qms import signals as core
from qms.clock import deadline


def _review_kinds(bypass: BypassRequest) -> list[str]:
    return [f"review:{r['kind']}" for r in bypass.rules.bypass_reviews(bypass.level, bypass.flags)]


@receiver(lifecycle.bypass_requested)
def on_bypass_requested(sender, *, bypass: BypassRequest, actor, **kwargs):
    services.audit_event_record(
        action="bypass.requested",
        actor=actor,
        subject=bypass,
        reason=bypass.decision_branch,
        after={
            "level": bypass.level,
            "checks": bypass.checks,
            "repository": bypass.repository,
            "pull_request": bypass.pull_request,
            "change": bypass.change_id,
        },
    )
    specs = [
        {
            "kind": f"review:{r['kind']}",
            "label": r["label"],
            "owner_role": r["role"],
            "due_at": deadline(bypass.requested_at, amount=r["amount"], unit=r["unit"]),
        }
        for r in bypass.rules.bypass_reviews(bypass.level, bypass.flags)
    ]
    if specs:
        services.obligations_open(
            subject=bypass,
            specs=specs,
            started_at=bypass.requested_at,
            actor=actor,
            subject_url=bypass.get_absolute_url(),
        )


@receiver(lifecycle.bypass_activated)
def on_bypass_activated(sender, *, bypass: BypassRequest, actor, at, **kwargs):
    services.obligations_satisfy(subject=bypass, kinds=_review_kinds(bypass), actor=actor, note="bypass decided", at=at)
    due = remediation_due_date(bypass, at)
    owner = bypass.owner_of_remediation
    specs = [
        {
            "kind": "remediation",
            "key": check,
            "label": f"Remediate: {bypass.rules.check_label(check)}",
            "owner": owner,
            "due_at": due,
        }
        for check in bypass.checks
    ]
    services.obligations_open(
        subject=bypass, specs=specs, started_at=at, actor=actor, subject_url=bypass.get_absolute_url()
    )


@receiver(lifecycle.bypass_remediation_recorded)
def on_bypass_remediation(sender, *, remediation, actor, **kwargs):
    label = remediation.gate_label
    services.audit_event_record(
        action="bypass.check_remediated",
        actor=actor,
        subject=remediation.bypass,
        reason=f"{label} passes again: {remediation.evidence}",
        after={"gate": remediation.gate, "evidence": remediation.evidence},
    )
    services.obligations_satisfy(
        subject=remediation.bypass,
        kinds=["remediation"],
        keys=[remediation.gate],
        actor=actor,
        note=f"{label} shown to pass again",
        at=remediation.validated_at,
    )


@receiver(post_transition, sender=BypassRequest)
def on_bypass_transition(sender, instance: BypassRequest, name, source, target, **kwargs):
    method_kwargs = kwargs.get("method_kwargs", {})
    actor, reason, at = method_kwargs.get("by"), method_kwargs.get("reason", ""), method_kwargs.get("at")
    services.audit_event_record(
        action=f"bypass.{name}",
        actor=actor,
        subject=instance,
        reason=reason,
        before={"status": source},
        after={"status": target},
    )
    if name in ("reject", "withdraw"):
        services.obligations_satisfy(
            subject=instance, kinds=_review_kinds(instance), actor=actor, note=f"request {target}", at=at
        )


def _reviews_of_role(bypass: BypassRequest, role: str) -> list[str]:
    return [f"review:{r['kind']}" for r in bypass.rules.bypass_reviews(bypass.level, bypass.flags) if r["role"] == role]


@receiver(lifecycle.bypass_signed)
def on_bypass_signed(sender, *, bypass, signature, role, actor, **kwargs):
    """The reviewer's own signature meets their review clock, even while other signatures are still owed."""
    kinds = _reviews_of_role(bypass, str(getattr(role, "value", role)))
    if kinds:
        services.obligations_satisfy(
            subject=bypass,
            kinds=kinds,
            actor=actor,
            note=f"signed by the {signature.role_label}",
            at=signature.signed_at,
        )


@receiver(lifecycle.verbal_approval_recorded)
def on_verbal_approval(sender, *, bypass, signature, actor, due, **kwargs):
    services.obligations_open(
        subject=bypass,
        actor=actor,
        started_at=signature.signed_at,
        subject_url=bypass.get_absolute_url(),
        specs=[
            {
                "kind": "verbal_confirmation",
                "key": str(signature.pk),
                "owner": signature.signer,
                "due_at": due,
                "label": f"Confirm {signature.get_method_display().lower()} ({signature.role_label})",
            }
        ],
    )


@receiver(lifecycle.verbal_approval_confirmed)
def on_verbal_confirmed(sender, *, bypass, signature, actor, **kwargs):
    services.obligations_satisfy(
        subject=bypass,
        kinds=["verbal_confirmation"],
        actor=actor,
        note="confirmed by signature",
        keys=[str(signature.pk)],
    )
    reviews = _reviews_of_role(bypass, signature.role)
    if reviews:  # a reviewer's confirmed verbal approval is their review
        services.obligations_satisfy(subject=bypass, kinds=reviews, actor=actor, note="verbal approval confirmed")


@receiver(core.signature_recorded)
def on_signature(sender, *, signature, subject, **kwargs):
    services.audit_event_record(
        action=f"signature.{signature.meaning}",
        actor=signature.recorded_by or signature.signer,
        subject=subject,
        reason=signature.comment,
        after={
            "signer": signature.signer_name,
            "role": signature.role,
            "meaning": signature.meaning,
            "method": signature.method,
            "content_hash": signature.content_hash,
            "approved_at": signature.approved_at,
            "signature": signature.pk,
            **({"on_behalf_of": signature.on_behalf_of_name} if signature.on_behalf_of_id else {}),
            **({"training_deviation": signature.training_deviation} if signature.training_deviation else {}),
        },
    )


@receiver(core.signing_failed)
def on_signing_failed(sender, *, user, failures, locked, reason="Wrong password", **kwargs):
    password = reason == "Wrong password"
    services.audit_event_record(
        action="signature.locked"
        if locked
        else ("signature.wrong_password" if password else "signature.reauth_refused"),
        actor=user,
        subject=user,
        reason=f"{failures} wrong password(s) in a row at signing"
        if password
        else f"{reason}: {failures} failure(s) in a row at signing",
        after={"failures": failures, "locked": locked},
    )


@receiver(core.signing_unlocked)
def on_signing_unlocked(sender, *, user, actor, reason="", **kwargs):
    services.audit_event_record(
        action="signature.unlocked", actor=actor, subject=user, reason=f"signing unlocked: {reason}".rstrip(": ")
    )
