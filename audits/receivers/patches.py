"""How oversight hears about the patch package (CM-WF-EMERGENCY): audit events, and the §11.2 clocks.

Every package event is recorded with the package as its subject (the change's trail and the auditor's
export collect the package's events); the follow-up documentation is recorded on the change, whose
obligations it is. At deployment, a change whose procedure uses patch packages owes the eight §11.2
documents within 30 days, each its own obligation (kind ``follow_up_doc``, key = the document); they
detail the procedure's single "30-day follow-up documentation" clock, which the last of them satisfies
(through the ``follow_up_documentation_complete`` milestone the service sends).
"""

from django.dispatch import receiver
from django_fsm.signals import post_transition

from audits import services
from emergencies import signals
from emergencies.models import ChangeRecord
from emergencies.models.patches import FOLLOW_UP_DAYS, FOLLOW_UP_ITEMS, PatchPackage, patch_package_required
from qms.clock import deadline
from qms.roles import Role

FOLLOW_UP_KIND = "follow_up_doc"


@receiver(post_transition, sender=ChangeRecord, dispatch_uid="audits.patch.follow_up_on_deploy")
def on_change_deployed(sender, instance: ChangeRecord, name, source, target, **kwargs):
    if name != "deploy" or not patch_package_required(instance):
        return
    method_kwargs = kwargs.get("method_kwargs", {})
    actor, at = method_kwargs.get("by"), method_kwargs.get("at") or instance.deployed_at
    due = deadline(at, amount=FOLLOW_UP_DAYS, unit="days", basis="calendar")  # "within 30 days of deployment"
    services.obligations_open(
        subject=instance,
        started_at=at,
        actor=actor,
        subject_url=instance.get_absolute_url(),
        specs=[
            {
                "kind": FOLLOW_UP_KIND,
                "key": key,
                "label": f"30-day follow-up: {label}",
                "owner_role": Role.RELEASE.value,
                "due_at": due,
            }
            for key, label in FOLLOW_UP_ITEMS
        ],
    )


@receiver(signals.patch_follow_up_completed, dispatch_uid="audits.patch.follow_up_completed")
def on_follow_up_completed(sender, *, change, document, actor, all_done, **kwargs):
    services.audit_event_record(
        action="patch.follow_up_completed",
        actor=actor,
        subject=change,
        reason=f"{document.get_key_display()}: {document.evidence}",
        after={"document": document.key, "reference": document.reference, "all_done": all_done},
    )
    services.obligations_satisfy(
        subject=change,
        kinds=[FOLLOW_UP_KIND],
        keys=[document.key],
        actor=actor,
        note=f"done: {document.reference or document.evidence}"[:500],
        at=document.completed_at,
    )


@receiver(post_transition, sender=PatchPackage, dispatch_uid="audits.patch.package_transition")
def on_package_transition(sender, instance: PatchPackage, name, source, target, **kwargs):
    method_kwargs = kwargs.get("method_kwargs", {})
    after = {"status": target}
    if name == "approve":
        after["approved_hashes"] = instance.approved_hashes
        after["signature"] = instance.approval_signature_id
    services.audit_event_record(
        action=f"patch.{name}",
        actor=method_kwargs.get("by"),
        subject=instance,
        reason=method_kwargs.get("reason", ""),
        before={"status": source},
        after=after,
    )


@receiver(signals.patch_package_created, dispatch_uid="audits.patch.created")
def on_package_created(sender, *, package, actor, **kwargs):
    services.audit_event_record(
        action="patch.created",
        actor=actor,
        subject=package,
        reason=f"patch package for {package.change.identifier}",
        after={"change": package.change.identifier, "version": package.version},
    )


@receiver(signals.patch_package_updated, dispatch_uid="audits.patch.updated")
def on_package_updated(sender, *, package, actor, fields, **kwargs):
    services.audit_event_record(
        action="patch.updated", actor=actor, subject=package, reason=f"edited: {', '.join(fields)}"
    )


@receiver(signals.patch_artifact_changed, dispatch_uid="audits.patch.artifact")
def on_artifact_changed(sender, *, artifact, package, actor, action, detail, **kwargs):
    after = {}
    if artifact is not None:
        after = {
            "filename": artifact.filename,
            "kind": artifact.kind,
            "sha256": artifact.sha256,
            "size": artifact.size,
            "hash_source": artifact.hash_source,
            "verified": artifact.is_verified,
            "verification_method": artifact.verification_method,
        }
    name = artifact.filename if artifact is not None else ""
    services.audit_event_record(
        action=f"patch.artifact_{action}",
        actor=actor,
        subject=package,
        reason=f"{name} {detail}".strip() if name and not detail.startswith(name) else detail,
        after=after,
    )


@receiver(signals.patch_unit_changed, dispatch_uid="audits.patch.unit")
def on_unit_changed(sender, *, unit, package, actor, action, event, **kwargs):
    after = {
        "serial_number": unit.serial_number,
        "install_status": unit.install_status,
        "acknowledged": unit.acknowledged_at is not None,
        "reported_hash": unit.reported_hash,
        "post_install_verified": unit.post_install_verified,
    }
    if unit.reported_hash and package.is_released:
        after["approved_hash"] = unit.expected_hash(package)
        after["hash_matches"] = unit.hash_matches(package)
    reason = unit.serial_number
    if event is not None:
        after["event"] = event.pk
        reason = f"{unit.serial_number}: {event.get_kind_display().lower()}" + (
            f" — {event.detail}" if event.detail else ""
        )
    services.audit_event_record(action=f"patch.unit_{action}", actor=actor, subject=package, reason=reason, after=after)


@receiver(signals.patch_configuration_audited, dispatch_uid="audits.patch.configuration_audit")
def on_configuration_audited(sender, *, package, actor, rows, ok, **kwargs):
    failing = [r["serial_number"] for r in rows if not r["ok"]]
    services.audit_event_record(
        action="patch.configuration_audit",
        actor=actor,
        subject=package,
        reason="every unit reports the approved hash" if ok else f"not matching or not installed: {', '.join(failing)}",
        after={"ok": ok, "units": rows},
    )
