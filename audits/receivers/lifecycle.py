"""How oversight hears about the lifecycle: signals in, audit events and clocks out."""

from datetime import UTC, datetime, time

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone
from django_fsm.signals import post_transition

from audits import services
from audits.clocks import SEVERITY_ACTION_KINDS
from emergencies import signals as lifecycle
from emergencies.models import BypassRequest, ChangeRecord, PostMortem
from emergencies.services.bypasses import remediation_due_date
from emergencies.signals import change_record_checklist_changed, change_record_filed
from qms import signals as core
from qms.clock import deadline
from qms.procedures import CHECK_CATALOGUE
from qms.roles import Role

VOIDING_TRANSITIONS = {"convert_to_standard": "Voided: the change left the emergency path."}
# Its emergency bypass's remediation clocks go with it: the standard process runs the gates it skipped.
VOIDED_BYPASS_NOTE = "Voided: the change left the emergency path; the standard process runs the skipped gates."


@receiver(change_record_filed)
def on_change_filed(sender, *, change: ChangeRecord, actor, **kwargs):
    incident = change.incident
    services.audit_event_record(
        action="change.filed",
        actor=actor,
        subject=change,
        reason=f"{incident.category_label} declared under {change.procedure_version}",
        after={
            "status": change.status,
            "incident": incident.ticket,
            "category": incident.category,
            "cvss_score": incident.cvss_score,
            "severity": incident.severity,
        },
    )
    commander = incident.commander
    specs = []
    for clock in change.rules.clocks(incident.severity):
        owner = commander if clock.owner == "commander" and commander else change.author
        specs.append(
            {
                "kind": clock.kind,
                "label": clock.label,
                "due_at": clock.due(change.declared_at),
                "owner": owner,
                "owner_role": Role.COMMANDER.value if clock.owner == "commander" else "",
            }
        )
    services.obligations_open(
        subject=change, specs=specs, started_at=change.declared_at, actor=actor, subject_url=change.get_absolute_url()
    )
    if not ChangeRecord.objects.filter(incident=incident).exclude(pk=change.pk).exists():
        _open_severity_actions(change, incident.severity, actor, change.declared_at)


def _open_severity_actions(change: ChangeRecord, severity: str, actor, at) -> None:
    """The post-incident actions of the incident's severity class (S1-S4), owned by the incident commander.
    Each opening has its own key, so a severity changed back opens its actions again."""
    actions = change.rules.severity_class(severity).get("actions", [])
    commander = change.incident.commander if change.incident_id else None
    specs = [
        {
            "kind": action["kind"],
            "key": f"{severity}@{at:%Y%m%dT%H%M%S.%f}",
            "label": f"{severity}: {action['label']}",
            "due_at": deadline(at, amount=action["amount"], unit=action["unit"]),
            "owner": commander or change.author,
            "owner_role": Role.COMMANDER.value,
        }
        for action in actions
    ]
    if specs:
        services.obligations_open(
            subject=change, specs=specs, started_at=at, actor=actor, subject_url=change.get_absolute_url()
        )


@receiver(post_transition, sender=ChangeRecord)
def on_change_transition(sender, instance: ChangeRecord, name, source, target, **kwargs):
    method_kwargs = kwargs.get("method_kwargs", {})
    actor, reason, at = method_kwargs.get("by"), method_kwargs.get("reason", ""), method_kwargs.get("at")
    services.audit_event_record(
        action=f"change.{name}",
        actor=actor,
        subject=instance,
        reason=reason,
        before={"status": source},
        after={"status": target},
    )
    if name in VOIDING_TRANSITIONS:
        services.obligations_satisfy(subject=instance, kinds=None, actor=actor, note=VOIDING_TRANSITIONS[name], at=at)
        for bypass in BypassRequest.objects.filter(change=instance):
            services.obligations_satisfy(subject=bypass, kinds=None, actor=actor, note=VOIDED_BYPASS_NOTE, at=at)
        return
    _satisfy_clocks(instance, name, actor, at)
    if name == "deploy":
        _open_deferred(instance, actor, at)
    elif name == "resolve":
        services.obligations_reanchor(subject=instance, due_by_kind=_resolution_dues(instance, at), actor=actor)


@receiver(change_record_checklist_changed)
def on_checklist_changed(sender, *, change, actor, item, done, **kwargs):
    services.audit_event_record(
        action="change.checklist",
        actor=actor,
        subject=change,
        reason=f"{item} {'ticked' if done else 'unticked'}",
        before={item: not done},
        after={item: done},
    )


@receiver(lifecycle.change_proceed_deviation_signed)
def on_proceed_deviation(sender, *, change, signature, actor, reason, **kwargs):
    services.audit_event_record(
        action="change.proceed_before_authorisation",
        actor=actor,
        subject=change,
        reason=reason,
        before={"proceed_deviation_at": None},
        after={"proceed_deviation_at": change.proceed_deviation_at, "signature": signature.pk},
    )


@receiver(lifecycle.incident_updated)
def on_incident_updated(sender, *, incident, changes, actor, reason, **kwargs):
    """The incident completed after filing: audited; a new commander owns the commander's clocks; a new
    severity or detection time re-anchors the declared-anchored clocks (the response clock first)."""
    services.audit_event_record(
        action="incident.updated",
        actor=actor,
        subject=incident,
        reason=reason,
        before={field: getattr(before, "pk", before) for field, (before, _after) in changes.items()},
        after={field: getattr(after, "pk", after) for field, (_before, after) in changes.items()},
    )
    first_pk = (
        ChangeRecord.objects.filter(incident=incident).order_by("declared_at", "pk").values_list("pk", flat=True)[0]
    )
    for change in ChangeRecord.objects.filter(incident=incident, status__in=ChangeRecord.OPEN_STATUSES).select_related(
        "procedure_version"
    ):
        if "commander" in changes:
            services.obligations_reassign(
                subject=change,
                owner_role=Role.COMMANDER.value,
                owner=incident.commander,
                actor=actor,
                note=f"incident commander now {incident.commander.display_name}",
            )
        if "severity" in changes and change.pk == first_pk:
            before, after = changes["severity"]
            services.obligations_satisfy(
                subject=change,
                kinds=sorted(SEVERITY_ACTION_KINDS),
                actor=actor,
                note=f"Voided: severity changed from {before or 'none'} to {after}: {reason}",
            )
            _open_severity_actions(change, after, actor, timezone.now())
        if "severity" in changes or "detected_at" in changes:
            start = incident.detected_at or change.declared_at
            dues = {c.kind: c.due(start) for c in change.rules.clocks(incident.severity) if c.anchor == "declared"}
            services.obligations_reanchor(subject=change, due_by_kind=dues, actor=actor, note=f"re-anchored: {reason}")


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs):
    services.audit_event_record(action="auth.login", actor=user, subject=user)


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs):
    if user is not None:
        services.audit_event_record(action="auth.logout", actor=user, subject=user)


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    services.audit_event_record(
        action="auth.login_failed",
        reason="Wrong username or password",
        after={"username": str(credentials.get("username", ""))[:150]},
    )


# --- bypasses and signatures --------------------------------------------------------------------------


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
            "label": f"Remediate: {CHECK_CATALOGUE[check]['label']}",
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
    label = remediation.get_gate_display()
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


# --- post-incident --------------------------------------------------------------------------------------


def _clocks(change: ChangeRecord):
    return change.rules.clocks(change.incident.severity if change.incident_id else "")


def _satisfy_clocks(change: ChangeRecord, event: str, actor, at) -> None:
    kinds = [c.kind for c in _clocks(change) if event in c.satisfied_on]
    if kinds:
        services.obligations_satisfy(
            subject=change, kinds=kinds, actor=actor, note=f"met by “{event.replace('_', ' ')}”", at=at
        )


def _resolution_dues(change: ChangeRecord, at) -> dict:
    """Documentation and post-mortem run from resolution (§4: 24 h and 72 h after it)."""
    return {c.kind: c.due(at) for c in _clocks(change) if c.anchor == "resolved"}


def _open_deferred(change: ChangeRecord, actor, at) -> None:
    """What the hotfix deferred (full regression, §3.2) becomes an obligation when it is deployed."""
    specs = [
        {
            "kind": d["kind"],
            "label": d["label"],
            "owner": change.author,
            "due_at": deadline(at, amount=d["amount"], unit=d["unit"]),
        }
        for d in change.rules.deferred_on_deploy
    ]
    if specs:
        services.obligations_open(
            subject=change, specs=specs, started_at=at, actor=actor, subject_url=change.get_absolute_url()
        )


@receiver(lifecycle.change_record_milestone)
def on_milestone(sender, *, change, name, actor, at, **kwargs):
    services.audit_event_record(action=f"change.{name}", actor=actor, subject=change, reason=name.replace("_", " "))
    _satisfy_clocks(change, name, actor, at)
    deferred = [d["kind"] for d in change.rules.deferred_on_deploy if name in d.get("satisfied_on", [])]
    if deferred:
        services.obligations_satisfy(
            subject=change, kinds=deferred, actor=actor, note=f"met by “{name.replace('_', ' ')}”", at=at
        )


@receiver(lifecycle.gate_result_recorded)
def on_gate_result(sender, *, result, bypass, actor, **kwargs):
    change = result.change
    services.audit_event_record(
        action=f"gate.{result.result}",
        actor=actor,
        subject=change,
        reason=result.evidence,
        after={"gate": result.gate, "result": result.result, "retroactive": result.retroactive},
    )
    if not result.clears_gate:
        return
    note = f"gate {result.get_result_display().lower()} retroactively"
    if bypass is not None:
        services.obligations_satisfy(
            subject=bypass, kinds=["remediation"], keys=[result.gate], actor=actor, note=note, at=result.validated_at
        )
    deferred = [d["kind"] for d in change.rules.deferred_on_deploy if d.get("gate") == result.gate]
    if deferred:
        services.obligations_satisfy(subject=change, kinds=deferred, actor=actor, note=note, at=result.validated_at)


@receiver(lifecycle.action_item_saved)
def on_action_item(sender, *, item, actor, **kwargs):
    change = item.post_mortem.change
    due = datetime.combine(item.due_date, time(23, 59), tzinfo=UTC)
    services.obligations_open(
        subject=change,
        actor=actor,
        started_at=timezone.now(),
        subject_url=change.get_absolute_url(),
        specs=[
            {
                "kind": "action_item",
                "key": str(item.pk),
                "label": f"Action {item.number}: {item.action}"[:200],
                "owner": item.owner,
                "due_at": due,
            }
        ],
    )
    if item.status == item.Status.DONE:
        services.obligations_satisfy(
            subject=change, kinds=["action_item"], keys=[str(item.pk)], actor=actor, note="action done"
        )


@receiver(post_transition, sender=PostMortem)
def on_post_mortem_transition(sender, instance, name, source, target, **kwargs):
    method_kwargs = kwargs.get("method_kwargs", {})
    services.audit_event_record(
        action=f"post_mortem.{name}",
        actor=method_kwargs.get("by"),
        subject=instance.change,
        reason=method_kwargs.get("reason", ""),
        before={"status": source},
        after={"status": target},
    )


@receiver(lifecycle.war_room_entry_posted, dispatch_uid="audits.on_war_room_entry")
def on_war_room_entry(sender, *, entry, actor, **kwargs):
    services.audit_event_record(
        action=f"warroom.{'correction' if entry.corrects_id else entry.kind}",
        actor=actor,
        subject=entry.change,
        reason=entry.text[:1000],
        after={"entry": entry.pk, "kind": entry.kind, "corrects": entry.corrects_id, "posted_at": entry.posted_at},
    )


@receiver(lifecycle.alert_received, dispatch_uid="audits.on_alert_received")
def on_alert_received(sender, *, alert, action, actor, **kwargs):
    services.audit_event_record(
        action=f"alert.{action.replace('-', '_')}",
        actor=actor,
        subject=alert.incident,
        reason=f"{alert.get_source_display()} {alert.key}: {alert.title}"[:1000],
        after={"alert": alert.pk, "source": alert.source, "key": alert.key, "status": alert.status},
    )


@receiver(lifecycle.handoff_requested)
def on_handoff_requested(sender, *, request, actor, **kwargs):
    services.audit_event_record(
        action=f"handoff.{request.kind}.requested",
        actor=actor,
        subject=request.change or request,
        reason=request.note or f"{request.get_kind_display()} asked of {request.asked_of}",
        after={
            "request": request.pk,
            "subject": request.subject_label,
            "assignee": request.assignee_id,
            "role": request.role,
        },
    )


@receiver(lifecycle.handoff_closed)
def on_handoff_closed(sender, *, request, actor, **kwargs):
    services.audit_event_record(
        action=f"handoff.{request.kind}.{request.status}",
        actor=actor,
        subject=request.change or request,
        reason=request.close_note,
        after={"request": request.pk, "status": request.status},
    )
