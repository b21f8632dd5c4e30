import tempfile

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits import exports, selectors, services
from audits.forms import AuditExportForm
from emergencies.permissions import can_view_changes
from emergencies.selectors import change_get_for_user
from qms.forms.base import apply_validation_error, form_data

# Exports up to this size stay in memory; larger ones spill to a temporary file.
EXPORT_SPOOL_BYTES = 32 * 1024 * 1024


@require_GET
def event_list(request):
    if not selectors.can_oversee(request.user):
        raise PermissionDenied("The audit trail is for QMS coordinators, quality, executives and auditors.")
    action = request.GET.get("action", "").strip()[:100]
    subject = request.GET.get("subject", "").strip()[:100]
    page = Paginator(selectors.audit_event_list(user=request.user, action=action, subject=subject), 100).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "audits/auditevent_list.html",
        {"page": page, "action": action, "subject": subject, "can_export": exports.can_export_audit(request.user)},
    )


@require_GET
def chain_verify(request):
    if not selectors.can_oversee(request.user):
        raise PermissionDenied("Only oversight roles can verify the audit chain.")
    report = services.audit_chain_verify()
    services.audit_event_record(
        action="audit.chain_verified",
        actor=request.user,
        reason="ok" if report.ok else report.problem,
        after={"checked": report.checked, "broken_at": report.broken_at},
    )
    return render(request, "audits/chain_verify.html", {"report": report})


@require_GET
def overdue_list(request):
    mine = request.GET.get("mine") == "1" or not selectors.can_oversee(request.user)
    page = Paginator(selectors.obligations_overdue(user=request.user, mine_only=mine), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "audits/obligation_overdue_list.html", {"page": page, "mine": mine})


@require_http_methods(["GET", "POST"])
def export(request):
    """Pick a range and download the auditor's export (a POST: the export is itself an audit event)."""
    if not exports.can_export_audit(request.user):
        raise PermissionDenied("Audit exports are for QMS coordinators and auditors.")
    form = AuditExportForm(form_data(request))
    if request.method == "POST" and form.is_valid():
        date_from, date_to = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
        out = tempfile.SpooledTemporaryFile(max_size=EXPORT_SPOOL_BYTES)  # noqa: SIM115  (FileResponse closes it)
        try:
            summary = exports.audit_export_write(date_from=date_from, date_to=date_to, actor=request.user, out=out)
        except ValidationError as exc:
            out.close()
            apply_validation_error(form, exc)
        else:
            out.seek(0)
            response = FileResponse(
                out,
                as_attachment=True,
                filename=f"qms-audit-export-{date_from:%Y%m%d}-{date_to:%Y%m%d}.zip",
                content_type="application/zip",
            )
            response["X-Manifest-SHA256"] = summary.manifest_sha256
            return response
    return render(request, "audits/export.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
def change_trail(request, identifier):
    """A change's full trail: every field-history row and every audit event about it and its records."""
    change = change_get_for_user(identifier=identifier, user=request.user)
    return render(request, "audits/change_trail.html", {"change": change, **selectors.change_trail(change=change)})


@require_POST
def obligation_preventive_change(request, obligation_id):
    """From the pattern's page: link or open the preventive change a repeat-bypass pattern asks for."""
    from django.contrib import messages
    from django.http import Http404
    from django.shortcuts import redirect

    from audits.models import Obligation

    obligation = Obligation.objects.filter(pk=obligation_id, kind="preventive_change").first()
    if obligation is None or not can_view_changes(request.user):
        raise Http404
    try:
        obligation = services.obligation_preventive_change_meet(
            obligation_id=obligation.pk,
            actor=request.user,
            change_identifier=request.POST.get("change", "")[:40],
            title=request.POST.get("title", "")[:250],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{obligation.label}: {obligation.satisfaction_note}.")
    return redirect(obligation.subject_url or "/")


@require_POST
def obligation_evidence(request, obligation_id):
    """From a change's Clocks panel: record a post-incident or post-deployment action done, with evidence."""
    from django.contrib import messages
    from django.http import Http404
    from django.shortcuts import redirect

    from audits.clocks import EVIDENCE_KINDS
    from audits.models import Obligation

    obligation = Obligation.objects.filter(pk=obligation_id, kind__in=EVIDENCE_KINDS).first()
    if obligation is None or not can_view_changes(request.user):
        raise Http404
    try:
        obligation = services.obligation_evidence_record(
            obligation_id=obligation.pk, actor=request.user, evidence=request.POST.get("evidence", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{obligation.label}: recorded done.")
    return redirect(f"{obligation.subject_url or '/'}#clocks")
