"""Pages of procedures under document control: the procedures and their versions, a draft with its changes in
words, editing as YAML, submission, approval by signature, sending back, publication and withdrawal. Each
write calls the service of ``qms.services.procedure_drafts`` (the API's operations call the same)."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_POST

from qms.forms.procedures import ProcedureRulesForm
from qms.limits import COMMENT_MAX
from qms.models import Procedure, ProcedureDraft, ProcedureVersion
from qms.procedures.diff import definition_diff
from qms.procedures.yaml import YAML_MAX_BYTES, definition_to_yaml, procedure_to_yaml, yaml_to_definition
from qms.roles import Role
from qms.security import signing_auth
from qms.services import procedure_drafts as pd
from qms.services import signatures_for
from qms.services.delegation import signable_roles
from qms.services.procedure_schedule import procedure_schedule_cancel
from qms.services.procedures import procedure_versions_in_force


def _require_role(user) -> None:
    if not user.roles:
        raise PermissionDenied("You hold no role in the portal.")


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return " ".join(m for messages_ in exc.message_dict.values() for m in messages_)
    return " ".join(exc.messages)


@login_required
def procedure_list(request):
    _require_role(request.user)
    in_force = {v.procedure_id: v for v in procedure_versions_in_force()}
    procedures = [
        {"procedure": p, "in_force": in_force.get(p.pk), "versions": list(p.versions.order_by("-version"))}
        for p in Procedure.objects.order_by("title")
    ]
    drafts = ProcedureDraft.objects.select_related("procedure", "author").filter(
        status__in=[
            ProcedureDraft.Status.DRAFT,
            ProcedureDraft.Status.IN_REVIEW,
            ProcedureDraft.Status.APPROVED,
            ProcedureDraft.Status.SCHEDULED,
        ]
    )
    return render(
        request,
        "qms/procedure_list.html",
        {"procedures": procedures, "drafts": drafts, "can_edit": request.user.has_role(*pd.EDITOR_ROLES)},
    )


@login_required
def procedure_version_detail(request, code, version):
    _require_role(request.user)
    found = ProcedureVersion.objects.select_related("procedure").filter(procedure__code=code, version=version).first()
    if found is None:
        raise Http404
    if request.GET.get("format") == "yaml":
        response = HttpResponse(procedure_to_yaml(found), content_type="application/yaml; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{code}-v{version}.yaml"'
        return response
    previous = found.procedure.versions.filter(version__lt=found.version).order_by("-version").first()
    return render(
        request,
        "qms/procedure_version.html",
        {
            "version": found,
            "changes": definition_diff(previous.definition, found.definition) if previous else [],
            "yaml": definition_to_yaml(found.definition),
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def procedure_draft_start_view(request, code):
    try:
        draft = pd.procedure_draft_start(procedure_code=code, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
        return redirect("qms:procedure-list")
    messages.success(request, f"Draft started from {draft.base_version}.")
    return redirect("qms:procedure-draft", draft_id=draft.pk)


def _draft_or_404(request, draft_id) -> ProcedureDraft:
    _require_role(request.user)
    draft = ProcedureDraft.objects.select_related("procedure", "base_version", "author", "published_version")
    draft = draft.filter(pk=draft_id).first()
    if draft is None:
        raise Http404
    return draft


@login_required
def procedure_draft_detail(request, draft_id):
    return _draft_page(request, _draft_or_404(request, draft_id))


def _draft_page(request, draft: ProcedureDraft, rules_form: ProcedureRulesForm | None = None, status: int = 200):
    user = request.user
    return render(
        request,
        "qms/procedure_draft.html",
        {
            "draft": draft,
            "rules_form": rules_form or ProcedureRulesForm(draft.definition),
            "changes": pd.draft_diff(draft),
            "yaml": request.session.pop(f"draft-yaml-{draft.pk}", None) or definition_to_yaml(draft.definition),
            "signatures": signatures_for(draft),
            "missing": pd.draft_missing_roles(draft) if draft.status == ProcedureDraft.Status.IN_REVIEW else [],
            "is_author": draft.author_id == user.pk,
            "is_editor": user.has_role(*pd.EDITOR_ROLES),
            "sign_roles": signable_roles(user, pd.approver_roles()) if draft.author_id != user.pk else [],
            "now": timezone.localtime(),
        },
        status=status,
    )


@login_required
@require_POST
def procedure_draft_edit(request, draft_id):
    """Edit as YAML (the whole definition) or through the rules form, and the change note."""
    draft = _draft_or_404(request, draft_id)
    if request.POST.get("editor") == "form":
        return _edit_through_form(request, draft)
    text = request.POST.get("definition_yaml", "")
    note = request.POST.get("change_note", "")
    try:
        if len(text.encode()) > YAML_MAX_BYTES or len(note) > COMMENT_MAX:
            raise ValidationError({"definition": ["The definition or the change note is too long."]})
        definition = yaml_to_definition(text)
        pd.procedure_draft_update(draft_id=draft.pk, actor=request.user, definition=definition, change_note=note)
    except ValidationError as exc:
        request.session[f"draft-yaml-{draft.pk}"] = text[:YAML_MAX_BYTES]
        messages.error(request, "Not saved: " + _errors(exc))
    else:
        messages.success(request, "Draft saved.")
    return redirect("qms:procedure-draft", draft_id=draft.pk)


def _edit_through_form(request, draft: ProcedureDraft):
    """The rules form: saved through the same service; a refusal shows at the field it names."""
    form = ProcedureRulesForm(draft.definition, request.POST)
    note = request.POST.get("change_note", "")
    if form.is_valid():
        try:
            if len(note) > COMMENT_MAX:
                raise ValidationError({"change_note": [f"At most {COMMENT_MAX} characters."]})
            pd.procedure_draft_update(
                draft_id=draft.pk, actor=request.user, definition=form.edited_definition(), change_note=note
            )
        except ValidationError as exc:
            problems = exc.message_dict.get("definition", []) if hasattr(exc, "error_dict") else exc.messages
            other = [m for k, v in getattr(exc, "message_dict", {}).items() if k != "definition" for m in v]
            form.add_problems(problems + other)
        else:
            messages.success(request, "Draft saved.")
            return redirect("qms:procedure-draft", draft_id=draft.pk)
    messages.error(request, "Not saved: see the fields marked below.")
    return _draft_page(request, draft, form, status=400)


@login_required
@require_POST
def procedure_draft_action(request, draft_id):
    """Submit, send back, publish (now or at a date), cancel a scheduled version or withdraw."""
    draft = _draft_or_404(request, draft_id)
    action, reason = request.POST.get("action", ""), request.POST.get("reason", "")[:COMMENT_MAX]
    try:
        if action == "submit":
            pd.procedure_draft_submit(draft_id=draft.pk, actor=request.user)
            done = "Submitted for review."
        elif action == "return":
            pd.procedure_draft_return(draft_id=draft.pk, actor=request.user, reason=reason)
            done = "Sent back to its author."
        elif action == "publish":
            when = request.POST.get("effective_from", "").strip()
            effective = None
            if when:
                try:
                    effective = timezone.make_aware(datetime.fromisoformat(when))
                except ValueError:
                    raise ValidationError(
                        {"effective_from": ["Give a date and time, e.g. 2026-12-01 08:00."]}
                    ) from None
            draft = pd.procedure_draft_publish(draft_id=draft.pk, actor=request.user, effective_from=effective)
            starts = timezone.localtime(draft.effective_from)
            done = f"Published as {draft.published_version}, in force from {starts:%Y-%m-%d %H:%M}."
        elif action == "cancel_schedule":
            procedure_schedule_cancel(draft_id=draft.pk, actor=request.user, reason=reason)
            done = "Schedule cancelled: the version in force stays in force."
        elif action == "withdraw":
            pd.procedure_draft_withdraw(draft_id=draft.pk, actor=request.user, reason=reason)
            done = "Draft withdrawn."
        else:
            raise ValidationError("Unknown action.")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, done)
    return redirect("qms:procedure-draft", draft_id=draft.pk)


@login_required
@require_POST
def procedure_draft_approve_view(request, draft_id):
    draft = _draft_or_404(request, draft_id)
    role = request.POST.get("role", "")
    if role not in Role._value2member_map_:
        messages.error(request, "Choose the role you sign as.")
        return redirect("qms:procedure-draft", draft_id=draft.pk)
    try:
        pd.procedure_draft_approve(
            draft_id=draft.pk,
            signer=request.user,
            password=request.POST.get("password", ""),
            role=Role(role),
            comment=request.POST.get("comment", "")[:COMMENT_MAX],
            auth=signing_auth(request),
        )
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, "Your approval is signed.")
    return redirect("qms:procedure-draft", draft_id=draft.pk)


_PAGE = "procedures/drafts/<int:draft_id>/"
urlpatterns = [
    path("procedures/", procedure_list, name="procedure-list"),
    path("procedures/<slug:code>/v<int:version>/", procedure_version_detail, name="procedure-version"),
    path("procedures/<slug:code>/drafts/", procedure_draft_start_view, name="procedure-draft-start"),
    path(_PAGE, procedure_draft_detail, name="procedure-draft"),
    path(_PAGE + "edit/", procedure_draft_edit, name="procedure-draft-edit"),
    path(_PAGE + "action/", procedure_draft_action, name="procedure-draft-action"),
    path(_PAGE + "approve/", procedure_draft_approve_view, name="procedure-draft-approve"),
]
