from datetime import UTC

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from emergencies import permissions, selectors
from emergencies.forms import (
    BypassRequestForm,
    PasswordForm,
    RejectForm,
    RemediationForm,
    SignForm,
    VerbalApprovalForm,
    WithdrawForm,
)
from emergencies.models import BypassRequest
from emergencies.services import bypasses as services
from qms.forms.base import form_data
from qms.models import Signature, User
from qms.registry import subject_panels
from qms.roles import Role
from qms.security import signing_auth
from qms.services import content_hash, signatures_for
from qms.services.delegation import delegated_roles
from qms.services.qualification import signing_training_refusal
from qms.views.submission import form_submit


@require_GET
def bypass_list(request):
    if not permissions.can_view_changes(request.user):
        raise PermissionDenied("You hold no role in the portal yet.")
    status = request.GET.get("status", "")
    status = status if status in BypassRequest.Status.values else ""
    level = request.GET.get("level", "")
    level = level if level in BypassRequest.Level.values else ""
    q = request.GET.get("q", "").strip()[:100]
    qs = selectors.bypass_list_rows(user=request.user, status=status, level=level, q=q)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "emergencies/bypassrequest_list.html",
        {
            "page": page,
            "status": status,
            "level": level,
            "q": q,
            "statuses": BypassRequest.Status.choices,
            "levels": BypassRequest.Level.choices,
            "can_request": services.can_request_bypass(request.user),
        },
    )


def _level_preview(form: BypassRequestForm) -> dict:
    """Which level the decision tree gives for the answers so far, and what that level asks for."""
    data = form.data
    impact = data.get("production_impact", "")
    if impact not in BypassRequest.Impact.values:
        return {"level": None}
    rules = form.rules
    level, branch = rules.decide_bypass_level(
        production_impact=impact,
        security_or_compliance=bool(data.get("security_involved") or data.get("compliance_involved")),
        code_quality_only=bool(data.get("code_quality_only")),
    )
    if level == "L3" and data.get("incident_ticket", "").strip():
        level, branch = "E", branch + " → active incident → Emergency"
    slots = rules.bypass_slots(level, {"compliance_involved": bool(data.get("compliance_involved"))})
    label, required = rules.bypass_level(level)["label"], rules.bypass_level(level)["required"]
    # Marked up front: what the level requires shows its asterisk before anything is submitted (the
    # form was validated already, so this changes only how it is shown; the service checks the rest).
    for name in required:
        if name in form.fields:
            form.fields[name].required = True
    return {
        "level": level,
        "level_label": label,
        "level_name": label.split(" — ")[0],
        "branch": branch,
        "signers": [" or ".join(r.label for r in slot) for slot in slots],
        "allowed_checks": [rules.check_label(c) for c in rules.checks_allowed(level)],
        "level_fields": form.level_fields(level),
        "required": required,
    }


def bypass_create(request):
    if not services.can_request_bypass(request.user):
        raise PermissionDenied("Your roles do not allow requesting bypasses.")
    form = BypassRequestForm(form_data(request))
    submitted = form_submit(
        request,
        form,
        lambda form: services.bypass_request_create(data=form.to_input(), actor=request.user),
        lambda bypass: f"{bypass.identifier} requested: {bypass.get_level_display()}. The signers have been notified.",
    )
    if submitted:
        return redirect(submitted.result)
    context = {"form": form, "preview": _level_preview(form)}
    return render(request, "emergencies/bypassrequest_form.html", context, status=400 if form.errors else 200)


@require_GET
def bypass_level_preview(request):
    if not services.can_request_bypass(request.user):
        raise PermissionDenied("Your roles do not allow requesting bypasses.")
    form = BypassRequestForm(request.GET)
    return render(request, "emergencies/includes/bypass_level.html", {"form": form, "preview": _level_preview(form)})


def _detail_context(request, bypass, **forms):
    signatures = signatures_for(bypass)
    slots = services.bypass_slot_status(bypass, signatures)
    user = request.user
    may_act = bypass.status == BypassRequest.Status.PENDING and user.pk != bypass.requested_by_id
    slot_roles = list(dict.fromkeys(r for slot in slots for r in slot.roles))
    open_roles = list(dict.fromkeys(r for slot in slots if not slot.filled for r in slot.roles))
    delegated = delegated_roles(user) if may_act else {}
    sign_roles = [r for r in open_roles if user.has_role(r) or r in delegated] if may_act else []
    reject_roles = [r for r in slot_roles if user.has_role(r) or r in delegated] if may_act else []
    training_refusals = [
        reason for r in sign_roles if (reason := signing_training_refusal(subject=bypass, signer=user, role=r))
    ]
    can_record = bypass.status == BypassRequest.Status.PENDING and permissions.can_record_approval(bypass, user)
    approvers = (
        User.objects.filter(is_active=True, groups__name__in=[r.group_name for r in open_roles])
        .exclude(pk__in=[user.pk, bypass.requested_by_id, bypass.implementer_id])
        .distinct()
        .order_by("first_name")
    )
    current_hash = content_hash(bypass.signable_content())
    standalone = bypass.level != BypassRequest.Level.EMERGENCY
    remediation = selectors.bypass_remediation_status(bypass=bypass) if standalone else []
    open_checks = [(gate, label) for gate, label, done in remediation if done is None]
    may_remediate = (
        bypass.status == BypassRequest.Status.ACTIVE
        and bool(open_checks)
        and permissions.can_validate_remediation(bypass, user)
    )
    verbal_initial = {"approved_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}
    return {
        "bypass": bypass,
        "slots": slots,
        "signatures": [(s, s.content_hash == current_hash) for s in signatures],
        "current_hash": current_hash,
        "unconfirmed": [s for s in signatures if s.needs_confirmation and not hasattr(s, "confirmation")],
        "sign_form": forms.get("sign_form") or (SignForm(roles=sign_roles) if sign_roles else None),
        "acting_for": [delegated[r] for r in sign_roles if r in delegated],
        "training_refusals": training_refusals,
        "reject_form": forms.get("reject_form") or (RejectForm(roles=reject_roles) if reject_roles else None),
        "verbal_form": forms.get("verbal_form")
        or (VerbalApprovalForm(roles=open_roles, approvers=approvers, initial=verbal_initial) if can_record else None),
        "withdraw_form": forms.get("withdraw_form")
        or (
            WithdrawForm()
            if bypass.status == BypassRequest.Status.PENDING and user.pk == bypass.requested_by_id
            else None
        ),
        "remediation": remediation,
        "remediation_form": _offering(forms.get("remediation_form"), open_checks)
        or (RemediationForm(open_checks=open_checks) if may_remediate else None),
        "panels": subject_panels(BypassRequest._meta.label),
        "history": bypass.history.select_related("history_user").order_by("-history_date", "-history_id")[:50],
        "required_fields": [
            (services.FIELD_LABELS[name], _display(bypass, name))
            for name in bypass.rules.bypass_level(bypass.level)["required"]
        ],
    }


def _offering(form: RemediationForm | None, open_checks: list[tuple[str, str]]) -> RemediationForm | None:
    """A posted remediation form shown again with its errors offers the checks still open."""
    if form is not None:
        form.offer(open_checks)
    return form


def _display(bypass, name):
    if name == "incident":
        return bypass.incident
    display = getattr(bypass, f"get_{name}_display", None)
    return display() if display else getattr(bypass, name)


@require_GET
def bypass_detail(request, identifier):
    bypass = selectors.bypass_get_for_user(identifier=identifier, user=request.user)
    return render(request, "emergencies/bypassrequest_detail.html", _detail_context(request, bypass))


def _post_action(request, identifier, form, action, success, form_name):
    """Run a signing action from a posted form; on error show the page again with the form's errors."""
    bypass = selectors.bypass_get_for_user(identifier=identifier, user=request.user)
    if form_submit(request, form, lambda form: action(bypass, form.cleaned_data), success):
        return redirect(bypass)
    bypass = selectors.bypass_get_for_user(identifier=identifier, user=request.user)
    context = _detail_context(request, bypass, **{form_name: form})
    return render(request, "emergencies/bypassrequest_detail.html", context, status=400)


ALL_ROLES = list(Role)


@require_POST
def bypass_remediation(request, identifier):
    def act(bypass, data):
        services.bypass_remediation_record(
            bypass_id=bypass.pk, gate=data["gate"], evidence=data["evidence"], actor=request.user
        )

    form = RemediationForm(request.POST)
    return _post_action(request, identifier, form, act, "Remediation recorded.", "remediation_form")


@require_POST
def bypass_sign(request, identifier):
    def act(bypass, data):
        services.bypass_sign(
            bypass_id=bypass.pk,
            signer=request.user,
            password=data["password"],
            role=Role(data["role"]),
            comment=data["comment"],
            auth=signing_auth(request),
        )

    return _post_action(request, identifier, SignForm(request.POST, roles=ALL_ROLES), act, "Signed.", "sign_form")


@require_POST
def bypass_reject(request, identifier):
    def act(bypass, data):
        services.bypass_reject(
            bypass_id=bypass.pk,
            signer=request.user,
            password=data["password"],
            role=Role(data["role"]),
            reason=data["comment"],
            auth=signing_auth(request),
        )

    return _post_action(request, identifier, RejectForm(request.POST, roles=ALL_ROLES), act, "Rejected.", "reject_form")


@require_POST
def bypass_verbal(request, identifier):
    refusal = permissions.approval_recording_refusal(
        selectors.bypass_get_for_user(identifier=identifier, user=request.user), request.user
    )
    if refusal:
        raise PermissionDenied(refusal)

    def act(bypass, data):
        approved_at = data["approved_at"]
        if timezone.is_naive(approved_at):
            approved_at = timezone.make_aware(approved_at)
        services.bypass_verbal_approval_record(
            bypass_id=bypass.pk,
            approver=data["approver"],
            role=Role(data["role"]),
            approved_at=approved_at.astimezone(UTC),
            recorded_by=request.user,
            password=data["password"],
            comment=data["comment"],
            method=data["method"],
            auth=signing_auth(request),
        )

    form = VerbalApprovalForm(request.POST, roles=ALL_ROLES, approvers=User.objects.filter(is_active=True))
    success = "Approval recorded. It shows as unconfirmed until the approver signs it."
    return _post_action(request, identifier, form, act, success, "verbal_form")


@require_POST
def bypass_confirm(request, identifier, signature_id):
    bypass = selectors.bypass_get_for_user(identifier=identifier, user=request.user)
    signature = get_object_or_404(Signature, pk=signature_id, subject_id=bypass.pk)
    form = PasswordForm(request.POST)
    if form.is_valid():
        try:
            services.signature_confirm(
                signature_id=signature.pk,
                signer=request.user,
                password=form.cleaned_data["password"],
                auth=signing_auth(request),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Approval confirmed with your signature.")
    else:
        messages.error(request, "Enter your password to confirm.")
    return redirect(bypass)


@require_POST
def bypass_withdraw(request, identifier):
    def act(bypass, data):
        services.bypass_withdraw(bypass_id=bypass.pk, actor=request.user, reason=data["reason"])

    return _post_action(request, identifier, WithdrawForm(request.POST), act, "Request withdrawn.", "withdraw_form")
