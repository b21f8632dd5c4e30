"""The report pages: list and generate, a snapshot, its drill-downs and its CSV and PDF exports."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from audits.models import ComplianceReport
from audits.reports import selectors, services
from audits.reports.periods import KINDS, last_complete_period
from audits.selectors import can_oversee


def _require_oversight(user) -> None:
    if not can_oversee(user):
        raise PermissionDenied("Compliance reports are for QMS coordinators, quality, executives and auditors.")


@require_http_methods(["GET", "POST"])
def report_list(request):
    _require_oversight(request.user)
    kind = request.GET.get("kind", "")
    kind = kind if kind in KINDS else ""
    can_generate = services.can_generate_reports(request.user)
    errors, scope_errors = [], []
    chosen_scope = ""
    if request.method == "POST":
        if not can_generate:
            raise PermissionDenied("Only QMS coordinators generate compliance reports.")
        chosen = request.POST.get("kind", "")
        try:
            day = date.fromisoformat(request.POST.get("date", ""))
        except ValueError:
            errors.append("Give a day of the period (YYYY-MM-DD).")
            day = None
        if chosen not in KINDS:
            errors.append("Choose daily, weekly or monthly.")
        chosen_scope = request.POST.get("procedure_version", "")[:100]
        if not errors:
            try:
                report = services.report_generate(
                    kind=chosen,
                    period_start=day,
                    actor=request.user,
                    email=request.POST.get("email") == "on",
                    procedure_version=chosen_scope,
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    by_field = exc.message_dict
                    scope_errors = by_field.pop("procedure_version", [])
                    errors += [m for ms in by_field.values() for m in ms]
                else:
                    errors += exc.messages
            else:
                messages.success(request, f"{report} generated.")
                return redirect("audits:report-detail", pk=report.pk)
    page = Paginator(selectors.report_list(user=request.user, kind=kind), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "audits/reports/report_list.html",
        {
            "page": page,
            "kind": kind,
            "kinds": ComplianceReport.Kind.choices,
            "can_generate": can_generate,
            "errors": errors,
            "scope_errors": scope_errors,
            "scopes": services.report_scope_choices() if can_generate else [],
            "chosen_scope": chosen_scope,
            "default_date": last_complete_period("daily", timezone.now())[0].date().isoformat(),
        },
        status=400 if errors or scope_errors else 200,
    )


@require_GET
def report_detail(request, pk: int):
    report = selectors.report_get_for_user(pk=pk, user=request.user)
    # The snapshot's own HTML, rendered by the portal when it was generated (never user input).
    return render(
        request,
        "audits/reports/report_detail.html",
        {"report": report, "body": mark_safe(report.html)},  # noqa: S308
    )


@require_GET
def report_drill(request, pk: int, ref: str):
    report = selectors.report_get_for_user(pk=pk, user=request.user)
    return render(
        request,
        "audits/reports/report_drill.html",
        {"report": report, "ref": ref, **selectors.report_drill(report=report, ref=ref)},
    )


@require_GET
def report_csv(request, pk: int):
    report = selectors.report_get_for_user(pk=pk, user=request.user)
    response = HttpResponse(services.report_csv(report), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{services.export_filename(report, "csv")}"'
    response["X-Report-SHA256"] = report.sha256
    return response


@require_GET
def report_pdf(request, pk: int):
    report = selectors.report_get_for_user(pk=pk, user=request.user)
    response = HttpResponse(services.report_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{services.export_filename(report, "pdf")}"'
    response["X-Report-SHA256"] = report.sha256
    return response
