from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from emergencies import permissions, selectors, services
from emergencies.documents import stub_filename, stub_markdown, stub_pdf
from emergencies.forms import EmergencyStubForm, GateResultForm, RollbackReadingForm, TransitionForm
from emergencies.models import BypassRequest, ChangeRecord, PostMortem
from emergencies.services import authorisation, postincident, preconditions
from emergencies.services.alerts import stub_initial_for_incident
from emergencies.validation import findings
from qms.forms.base import form_data
from qms.models import ProcedureVersion
from qms.registry import subject_panels
from qms.views.submission import form_submit


@require_GET
def change_list(request):
    if not permissions.can_view_changes(request.user):
        raise PermissionDenied("You hold no role in the portal yet.")
    status = request.GET.get("status", "")
    if status not in ChangeRecord.Status.values:
        status = ""
    q = request.GET.get("q", "").strip()[:100]
    # A procedure version (its id): the changes filed under it.
    version = request.GET.get("procedure_version", "")
    version = int(version) if version.isdigit() and len(version) < 10 else None
    changes = selectors.change_list_rows(user=request.user, status=status, q=q, procedure_version=version)
    page = Paginator(changes, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "emergencies/changerecord_list.html",
        {
            "page": page,
            "status": status,
            "q": q,
            "statuses": ChangeRecord.Status.choices,
            "procedure_version": version,
            "procedure_versions": ProcedureVersion.objects.select_related("procedure").order_by(
                "procedure__title", "version"
            ),
            "can_file": permissions.can_file_emergency(request.user),
        },
    )


def stub_create(request):
    if not permissions.can_file_emergency(request.user):
        raise PermissionDenied("Your roles do not allow filing emergency changes.")
    initial = {}
    if request.method == "GET" and request.GET.get("incident"):
        # The "declare emergency" link of an alert's incident: the form starts from what the alert said.
        initial = stub_initial_for_incident(ticket=request.GET["incident"][:40])
    form = EmergencyStubForm(form_data(request), initial=initial or None)
    submitted = form_submit(
        request,
        form,
        lambda form: services.emergency_stub_file(data=form.to_input(), actor=request.user),
        lambda change: f"{change.identifier} filed. The clocks are running and the authorisers have been notified.",
    )
    if submitted:
        return redirect(submitted.result)
    return render(request, "emergencies/changerecord_form.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
def change_detail(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    return render(request, "emergencies/changerecord_detail.html", _detail_context(request, change))


# Panels about the emergency path only, not shown on a follow-up or preventive change (its own lifecycle).
EMERGENCY_ONLY_PANELS = frozenset({"ccb"})
STANDARD_SOURCES = (ChangeRecord.Source.FOLLOW_UP, ChangeRecord.Source.PREVENTIVE)


def _standard_lifecycle(change) -> list[dict] | None:
    """The steps of a follow-up or preventive change's own lifecycle, with who took each and when."""
    if change.source not in STANDARD_SOURCES:
        return None
    s = ChangeRecord.Status
    order = [s.DRAFT, s.APPROVED, s.IMPLEMENTED, s.VERIFIED, s.CLOSED]
    reached = order.index(change.status) if change.status in order else -1
    who = {
        s.DRAFT: (change.author, change.declared_at),
        s.APPROVED: (change.approved_by, change.approved_at),
        s.VERIFIED: (change.verified_by, change.verified_at),
        s.CLOSED: (None, change.closed_at),
    }
    return [
        {
            "status": step.value,
            "label": step.label,
            "state": "done" if i < reached else "current" if i == reached else "pending",
            "by": who.get(step, (None, None))[0] if i <= reached else None,
            "at": who.get(step, (None, None))[1] if i <= reached else None,
        }
        for i, step in enumerate(order)
    ]


def _detail_context(request, change):
    standard = _standard_lifecycle(change)
    panels = subject_panels(ChangeRecord._meta.label)
    if standard is not None:
        panels = [p for p in panels if p.name not in EMERGENCY_ONLY_PANELS]
    bypass = preconditions.emergency_bypass(change)
    authorised = bypass is not None and bypass.status in (BypassRequest.Status.ACTIVE, BypassRequest.Status.REMEDIATED)
    return {
        "bypass": bypass,
        "bypass_slots": preconditions.slot_status(bypass) if bypass else [],
        # EMG-E001: the emergency went on to the hotfix (or further) without its authorisation.
        "emg_e001": standard is None
        and not authorised
        and change.status not in (ChangeRecord.Status.STUB, ChangeRecord.Status.CONVERTED),
        "change": change,
        "incident": change.incident,
        "commander": selectors.incident_commander_name(change=change, bypass=bypass),
        # Every step open to this viewer from this state: allowed ones as buttons, the others with what blocks them.
        "transitions": preconditions.transition_options(change, request.user, services.TRANSITIONS),
        "rollback_firing": preconditions.firing_rollback_triggers(change)
        if change.status in (ChangeRecord.Status.DEPLOYED, ChangeRecord.Status.MONITORING)
        else [],
        # The deadlines of the procedure version this change was filed under (it keeps them).
        "procedure_clocks": change.rules.clocks(getattr(change.incident, "severity", "") or ""),
        "deviation_rule": change.rules.proceed_before_authorisation,
        "can_sign_deviation": standard is None
        and bypass is not None
        and not authorisation.proceed_deviation_problems(change, request.user),
        "can_rerequest": standard is None and not authorisation.authorisation_rerequest_problems(change, request.user),
        **_incident_context(request, change),
        "can_edit": permissions.can_edit_change(change, request.user),
        "history": selectors.change_history(change=change, limit=50),
        "panels": panels,
        "standard_lifecycle": standard,
        "checklist": [(name, label, getattr(change, name)) for name, label in services.CHECKLIST_ITEMS.items()],
        **_post_incident_context(request, change, bypass),
    }


def _incident_context(request, change) -> dict:
    from emergencies.forms import IncidentForm
    from emergencies.services.incident import can_edit_incident

    if change.incident_id is None:
        return {"incident_form": None, "incident_history": []}
    editable = change.is_open and can_edit_incident(request.user)
    return {
        "incident_form": IncidentForm(change=change) if editable else None,
        "incident_history": list(
            change.incident.history.select_related("history_user", "commander").order_by(
                "-history_date", "-history_id"
            )[:10]
        ),
    }


def _post_incident_context(request, change, bypass) -> dict:
    post_mortem = PostMortem.objects.filter(change=change).first()
    readings = list(change.rollback_readings.select_related("recorded_by")[:5])
    thresholds = change.rules.rollback_triggers
    user = request.user
    return {
        "deployment_flags": [
            (name, label, getattr(change, name))
            for name, label in postincident.DEPLOYMENT_FLAGS.items()
            if name != "security_scan_passed" or change.security_incident
        ],
        "deployment_problems": change.deployment_problems(),
        "can_review_hotfix": change.is_open
        and user.pk != change.author_id
        and permissions.can_work_on_change(change, user)
        and change.hotfix_reviewer_id is None,
        "readings": [(r, r.triggered(thresholds)) for r in readings],
        "reading_form": RollbackReadingForm(),
        "documentation_missing": postincident.documentation_missing(change),
        "post_mortem": post_mortem,
        "gates": postincident.gate_status(change),
        "gate_form": GateResultForm(),
        "can_validate_gates": change.is_open
        and user.has_role(*postincident.VALIDATOR_ROLES)
        and user.pk != change.author_id,
        "findings": findings(change, post_mortem=post_mortem, bypass=bypass, prefetched=True),
        "closure": postincident.closure_checklist(change) if change.status == ChangeRecord.Status.POST_INCIDENT else [],
        "follow_ups": list(change.follow_ups.all()),
    }


@require_GET
def change_markdown(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    response = HttpResponse(stub_markdown(change), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{stub_filename(change)}"'
    return response


@require_GET
def change_stub_pdf(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    response = HttpResponse(stub_pdf(change), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{stub_filename(change).replace(".md", ".pdf")}"'
    return response


@require_POST
def change_transition(request, identifier, transition):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    form = TransitionForm(request.POST)
    form.is_valid()
    try:
        change = services.change_record_transition(
            change_id=change.pk, transition=transition, actor=request.user, reason=form.cleaned_data.get("reason", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{change.identifier} is now {change.get_status_display().lower()}.")
    return redirect(change)


@require_POST
def change_checklist(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    try:
        change = services.change_record_checklist_set(
            change_id=change.pk,
            item=request.POST.get("item", ""),
            done=request.POST.get("done") == "1",
            actor=request.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    if request.htmx:
        change = selectors.change_get_for_user(identifier=identifier, user=request.user)
        return render(request, "emergencies/includes/checklist.html", _detail_context(request, change))
    return redirect(change)
