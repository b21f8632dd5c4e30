"""Pages after the fix: hotfix and deployment, documentation, post-mortem, gates, validation, exports."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from emergencies import documents, permissions, selectors
from emergencies.forms import (
    ActionItemForm,
    DocumentationForm,
    GateResultForm,
    PostMortemForm,
    PreventiveMeasureForm,
    RollbackReadingForm,
    SignForm,
)
from emergencies.models import ActionItem, ChangeRecord, PostMortem, PreventiveMeasure
from emergencies.services import postincident as services
from qms.roles import Role
from qms.security import signing_auth
from qms.services import content_hash, signatures_for
from qms.services.delegation import signable_roles
from qms.views.submission import form_submit


def _editable_change(request, identifier) -> ChangeRecord:
    """The change a POST is about, refused up front (403) when the user may not work on it."""
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not permissions.can_edit_change(change, request.user):
        raise PermissionDenied("You may not update this change.")
    return change


def _back(change, anchor=""):
    return redirect(f"{change.get_absolute_url()}{anchor}")


def _run(request, fn, success):
    """Call a service; a refusal becomes a message on the page it came from."""
    try:
        result = fn()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return None
    messages.success(request, success)
    return result or True


@require_POST
def hotfix_review(request, identifier):
    change = _editable_change(request, identifier)
    _run(
        request,
        lambda: services.hotfix_review_record(change_id=change.pk, reviewer=request.user),
        "Recorded: you reviewed the hotfix as the second engineer.",
    )
    return _back(change, "#deployment")


@require_POST
def deployment_flag(request, identifier):
    change = _editable_change(request, identifier)
    flag, done = request.POST.get("flag", ""), request.POST.get("done") == "1"
    if request.htmx:
        # Ticked in place: the list comes back, no page reload and no flash message.
        error = ""
        try:
            change = services.change_deployment_flag_set(change_id=change.pk, flag=flag, done=done, actor=request.user)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        flags = [
            (name, label, getattr(change, name))
            for name, label in services.DEPLOYMENT_FLAGS.items()
            if name != "security_scan_passed" or change.security_incident
        ]
        context = {"change": change, "deployment_flags": flags, "can_edit": True, "checklist_error": error}
        return render(request, "emergencies/includes/deployment_checklist.html", context)
    _run(
        request,
        lambda: services.change_deployment_flag_set(change_id=change.pk, flag=flag, done=done, actor=request.user),
        "Checklist updated.",
    )
    return _back(change, "#deployment")


@require_POST
def rollback_reading(request, identifier):
    change = _editable_change(request, identifier)
    form = RollbackReadingForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Rollback reading: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return _back(change, "#rollback")
    reading = _run(
        request,
        lambda: services.rollback_reading_record(change_id=change.pk, actor=request.user, **form.cleaned_data),
        "Reading recorded.",
    )
    if reading and reading is not True and reading.recommends_rollback:
        messages.warning(request, "A rollback trigger fired: the procedure calls for a rollback.")
    return _back(change, "#rollback")


def documentation_edit(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not permissions.can_edit_change(change, request.user):
        raise PermissionDenied("You may not edit this change's documentation.")
    form = DocumentationForm(request.POST if request.method == "POST" else None, instance=change)
    saved = form_submit(
        request,
        form,
        lambda form: services.change_documentation_update(
            change_id=change.pk,
            actor=request.user,
            sections={name: form.cleaned_data[name] for name in form.Meta.fields},
        ),
        "Documentation saved.",
    )
    if saved:
        return redirect(change)
    return render(
        request,
        "emergencies/changerecord_documentation.html",
        {"change": change, "form": form, "missing": services.documentation_missing(change)},
        status=400 if form.errors else 200,
    )


@require_POST
def gate_result(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not request.user.has_role(*services.VALIDATOR_ROLES):
        raise PermissionDenied(
            "Validating gates needs a QMS, quality, architect, lead, security, CM or engineering manager role."
        )
    form = GateResultForm(request.POST)
    if form.is_valid():
        _run(
            request,
            lambda: services.gate_result_record(change_id=change.pk, actor=request.user, **form.cleaned_data),
            "Gate result recorded.",
        )
    else:
        messages.error(request, "Gate result: choose a gate and a result, and give the evidence.")
    return _back(change, "#gates")


@require_POST
def gate_results_bulk(request, identifier):
    """The retroactive results of several gates in one form: one row per gate, a row without a result is
    left as it is."""
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not request.user.has_role(*services.VALIDATOR_ROLES):
        raise PermissionDenied(
            "Validating gates needs a QMS, quality, architect, lead, security, CM or engineering manager role."
        )
    rows = [
        (gate, request.POST.get(f"result-{gate}", ""), request.POST.get(f"evidence-{gate}", "")[:5000])
        for gate in services.gate_catalogue(change)
    ]
    chosen = [row for row in rows if row[1]]
    _run(
        request,
        lambda: services.gate_results_record(
            change_id=change.pk,
            results=chosen,
            actor=request.user,
            evidence_for_all=request.POST.get("evidence-all", "")[:5000].strip(),
        ),
        f"{len(chosen)} gate result{'s' if len(chosen) != 1 else ''} recorded.",
    )
    return _back(change, "#gates")


# --- post-mortem ------------------------------------------------------------------------------------------


def _post_mortem(request, identifier) -> tuple[ChangeRecord, PostMortem]:
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    post_mortem = PostMortem.objects.select_related("author").filter(change=change).first()
    if post_mortem is None:
        raise Http404
    return change, post_mortem


@require_POST
def post_mortem_start(request, identifier):
    change = _editable_change(request, identifier)
    result = _run(
        request,
        lambda: services.post_mortem_start(change_id=change.pk, actor=request.user),
        "Post-mortem started with the timeline so far.",
    )
    if result:
        return redirect("emergencies:post-mortem", identifier=change.identifier)
    return redirect(change)


def post_mortem_detail(request, identifier):
    change, post_mortem = _post_mortem(request, identifier)
    timeline_text = "\n".join(f"{row.at:%Y-%m-%d %H:%M} {row.event}" for row in post_mortem.timeline.all())
    data = request.POST if request.method == "POST" else None
    form = PostMortemForm(data, instance=post_mortem, initial={"timeline_text": timeline_text})
    editable = post_mortem.status == PostMortem.Status.DRAFT and permissions.can_work_on_change(change, request.user)
    if request.method == "POST":
        if not editable:
            raise PermissionDenied("This post-mortem cannot be edited now.")
        saved = form_submit(
            request,
            form,
            lambda form: services.post_mortem_update(
                post_mortem_id=post_mortem.pk,
                actor=request.user,
                fields={name: form.cleaned_data[name] for name in PostMortemForm.Meta.fields},
                timeline_text=form.cleaned_data["timeline_text"],
            ),
            "Post-mortem saved.",
        )
        if saved:
            return redirect("emergencies:post-mortem", identifier=identifier)
    signatures = signatures_for(post_mortem)
    current = content_hash(post_mortem.signable_content())
    approver_roles = signable_roles(request.user, post_mortem.change.rules.post_mortem_approver_roles)
    can_approve = (
        post_mortem.status == PostMortem.Status.IN_REVIEW
        and request.user.pk != post_mortem.author_id
        and approver_roles
    )
    return render(
        request,
        "emergencies/postmortem_detail.html",
        {
            "change": change,
            "pm": post_mortem,
            "form": form,
            "editable": editable,
            "actions": post_mortem.action_items.select_related("owner"),
            "measures": post_mortem.preventive_measures.select_related("follow_up"),
            "action_form": ActionItemForm(),
            "measure_form": PreventiveMeasureForm(),
            "sign_form": SignForm(roles=approver_roles) if can_approve else None,
            "signatures": [(s, s.content_hash == current) for s in signatures],
            "problems": services.post_mortem_problems(post_mortem) if editable else [],
            "can_work": permissions.can_work_on_change(change, request.user),
            "action_statuses": ActionItem.Status.choices,
            "review_asks": [
                h
                for h in selectors.handoffs_for_change(change=change)
                if h.is_open and h.kind == "post_mortem_approval"
            ],
        },
        status=400 if form.errors else 200,
    )


@require_POST
def post_mortem_action(request, identifier, action):
    _change, post_mortem = _post_mortem(request, identifier)
    user = request.user
    if action == "submit":
        _run(
            request,
            lambda: services.post_mortem_submit(post_mortem_id=post_mortem.pk, actor=user),
            "Submitted for review.",
        )
    elif action == "reopen":
        _run(
            request,
            lambda: services.post_mortem_reopen(
                post_mortem_id=post_mortem.pk, actor=user, reason=request.POST.get("reason", "")
            ),
            "Reopened.",
        )
    elif action == "approve":
        form = SignForm(request.POST, roles=list(Role))
        if form.is_valid():
            _run(
                request,
                lambda: services.post_mortem_approve(
                    post_mortem_id=post_mortem.pk,
                    signer=user,
                    password=form.cleaned_data["password"],
                    role=Role(form.cleaned_data["role"]),
                    comment=form.cleaned_data["comment"],
                    auth=signing_auth(request),
                ),
                "Approved and signed.",
            )
        else:
            messages.error(request, "Enter your role and password to sign.")
    elif action == "add-action":
        form = ActionItemForm(request.POST)
        if form.is_valid():
            _run(
                request,
                lambda: services.action_item_add(post_mortem_id=post_mortem.pk, actor=user, **form.cleaned_data),
                "Action item added.",
            )
        else:
            messages.error(request, "Action item: give the action, its owner and a due date.")
    elif action == "add-measure":
        form = PreventiveMeasureForm(request.POST)
        if form.is_valid():
            _run(
                request,
                lambda: services.preventive_measure_add(post_mortem_id=post_mortem.pk, actor=user, **form.cleaned_data),
                "Preventive measure added.",
            )
        else:
            messages.error(request, "Preventive measure: describe it and choose its category.")
    else:
        raise Http404
    return redirect("emergencies:post-mortem", identifier=identifier)


@require_POST
def action_item_status(request, identifier, item_id):
    _change, post_mortem = _post_mortem(request, identifier)
    item = get_object_or_404(ActionItem, pk=item_id, post_mortem=post_mortem)
    _run(
        request,
        lambda: services.action_item_set_status(
            item_id=item.pk, actor=request.user, status=request.POST.get("status", "")
        ),
        "Action updated.",
    )
    return redirect("emergencies:post-mortem", identifier=identifier)


@require_POST
def follow_up_create(request, identifier, measure_id):
    change, post_mortem = _post_mortem(request, identifier)
    measure = get_object_or_404(PreventiveMeasure, pk=measure_id, post_mortem=post_mortem)
    follow_up = _run(
        request,
        lambda: services.preventive_measure_follow_up_create(measure_id=measure.pk, actor=request.user),
        "Follow-up change created.",
    )
    if follow_up and follow_up is not True:
        messages.info(request, f"{follow_up.identifier} links back to {change.identifier}.")
    return redirect("emergencies:post-mortem", identifier=identifier)


# --- exports ----------------------------------------------------------------------------------------------


def _download(content, filename, content_type):
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
def post_mortem_export(request, identifier, fmt):
    if fmt not in ("md", "pdf"):
        raise Http404
    _change, post_mortem = _post_mortem(request, identifier)
    text = documents.post_mortem_markdown(post_mortem)
    name = documents.post_mortem_filename(post_mortem)
    if fmt == "md":
        return _download(text, name, "text/markdown; charset=utf-8")
    return _download(documents.post_mortem_pdf(post_mortem), name.replace(".md", ".pdf"), "application/pdf")


@require_GET
def change_export(request, identifier, fmt):
    if fmt not in ("md", "pdf"):
        raise Http404
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if fmt == "md":
        text = documents.change_full_markdown(change)
        return _download(text, documents.change_full_filename(change), "text/markdown; charset=utf-8")
    return _download(documents.change_full_pdf(change), f"{change.identifier}.pdf", "application/pdf")


# --- validation across changes ------------------------------------------------------------------------------


@require_GET
def validation_list(request):
    if not permissions.can_view_changes(request.user):
        raise PermissionDenied("You hold no role in the portal yet.")
    rows = selectors.changes_with_findings(user=request.user)
    return render(request, "emergencies/validation_list.html", {"rows": rows})
