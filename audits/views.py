from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audits import selectors, services


@require_GET
def event_list(request):
    if not selectors.can_oversee(request.user):
        raise PermissionDenied("The audit trail is for QMS coordinators, quality, executives and auditors.")
    action = request.GET.get("action", "").strip()[:100]
    subject = request.GET.get("subject", "").strip()[:100]
    page = Paginator(selectors.audit_event_list(user=request.user, action=action, subject=subject), 100).get_page(
        request.GET.get("page")
    )
    return render(request, "audits/auditevent_list.html", {"page": page, "action": action, "subject": subject})


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
