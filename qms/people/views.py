"""Pages: record a training, import training records from CSV, the training matrix, delegations."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qms.forms.base import form_data
from qms.models import TrainingRecord
from qms.people.forms import DelegationForm, RevokeForm, TrainingImportForm, TrainingRecordForm
from qms.people.selectors import can_view_training_matrix, training_matrix, training_records_recent
from qms.roles import Role
from qms.services.delegation import delegation_create, delegation_revoke, delegations_of
from qms.services.training import (
    CSV_MAX_BYTES,
    TrainingInput,
    can_record_training,
    courses_current,
    training_record_create,
    training_records_import,
)
from qms.views.submission import form_submit


def _require_recorder(user) -> None:
    if not can_record_training(user):
        raise PermissionDenied("Only a QMS coordinator records training.")


@login_required
@require_GET
def training_matrix_view(request):
    if not can_view_training_matrix(request.user):
        raise PermissionDenied("The training matrix is for QMS coordinators, quality, executives and auditors.")
    courses, rows = training_matrix()
    context = {
        "courses": courses,
        "rows": rows,
        "lapsing": [(row, cell) for row in rows for cell in row.lapsing],
        "recent": training_records_recent(),
        "may_record": can_record_training(request.user),
    }
    return render(request, "qms/training/matrix.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def training_record_view(request):
    _require_recorder(request.user)
    courses = courses_current()
    form = TrainingRecordForm(form_data(request), request.FILES or None, courses=courses)

    def save(form):
        data = form.cleaned_data
        return training_record_create(
            data=TrainingInput(
                user=data["user"],
                course=data["course"],
                completed_on=data["completed_on"],
                expires_on=data["expires_on"],
                evidence_reference=data["evidence_reference"],
                note=data["note"],
            ),
            evidence_file=data["evidence_file"],
            actor=request.user,
        )

    def saved(record):
        return f"{courses[record.course]['label']} recorded for {record.user}, valid until {record.expires_on}."

    if form_submit(request, form, save, saved):
        return redirect("qms:training-matrix")
    status = 400 if form.errors else 200
    return render(request, "qms/training/record_form.html", {"form": form}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def training_import_view(request):
    _require_recorder(request.user)
    form = TrainingImportForm(form_data(request), request.FILES or None)

    def save(form):
        upload = form.cleaned_data["file"]
        if upload.size > CSV_MAX_BYTES:
            raise ValidationError({"file": [f"At most {CSV_MAX_BYTES // 1000} kB of CSV, please."]})
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({"file": ["The file is not UTF-8 text."]}) from None
        return training_records_import(text=text, actor=request.user)

    def saved(created):
        return f"{len(created)} training record{'s' if len(created) != 1 else ''} imported."

    if form_submit(request, form, save, saved):
        return redirect("qms:training-matrix")
    status = 400 if form.errors else 200
    return render(request, "qms/training/import_form.html", {"form": form}, status=status)


@login_required
@require_GET
def training_evidence_view(request, record_id: int):
    """The evidence file of a record: for its holder, QMS coordinators and those who see the matrix."""
    record = TrainingRecord.objects.filter(pk=record_id).first()
    viewer = request.user
    if record is None or not (record.user_id == viewer.pk or can_view_training_matrix(viewer)):
        raise Http404
    if not record.evidence_file:
        raise Http404
    return FileResponse(record.evidence_file.open("rb"), as_attachment=True)


def _delegations_page(request, *, form=None, revoke_form=None, status=200):
    user = request.user
    context = {
        "form": form
        or DelegationForm(user=user, initial={"starts_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}),
        "revoke_form": revoke_form or RevokeForm(),
        "delegations": delegations_of(user),
        "now": timezone.now(),
        "may_delegate": any(r != Role.AUDITOR for r in user.roles),
    }
    return render(request, "qms/training/delegations.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def delegations_view(request):
    if request.method == "GET":
        return _delegations_page(request)
    form = DelegationForm(request.POST, user=request.user)

    def save(form):
        data = form.cleaned_data
        return delegation_create(
            delegator=request.user,
            delegate=data["delegate"],
            role=data["role"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            reason=data["reason"],
            actor=request.user,
        )

    def saved(delegation):
        return f"{delegation.role_label} delegated to {delegation.delegate}."

    if form_submit(request, form, save, saved):
        return redirect("qms:delegations")
    return _delegations_page(request, form=form, status=400)


@login_required
@require_POST
def delegation_revoke_view(request, delegation_id: int):
    from qms.models import Delegation

    delegation = Delegation.objects.filter(pk=delegation_id).first()
    if delegation is None or request.user.pk not in (delegation.delegator_id, delegation.delegate_id):
        raise Http404
    form = RevokeForm(request.POST)

    def revoke(form):
        delegation_revoke(delegation_id=delegation.pk, actor=request.user, reason=form.cleaned_data["reason"])

    if form_submit(request, form, revoke, "Delegation ended."):
        return redirect("qms:delegations")
    return _delegations_page(request, revoke_form=form, status=400)
