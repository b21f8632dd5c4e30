"""Emergency CCB pages: sessions, live tally, signed votes and decisions, and a change's gates and
communication. Thin: the rules are in emergencies.ccb.ccb, the reads in emergencies.selectors.ccb."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from emergencies import permissions, selectors
from emergencies.forms.ccb import (
    CancelForm,
    ConveneForm,
    DecisionForm,
    DeclareForm,
    MemberAddForm,
    RegulatoryForm,
    StatusUpdateForm,
    VoteForm,
)
from emergencies.models import CCBSession, ChangeRecord
from emergencies.models.ccb import Gate
from emergencies.selectors import ccb as selectors_ccb
from emergencies.services import ccb, communication, gates
from qms.forms.base import form_data
from qms.registry import subject_panels
from qms.security import signing_auth
from qms.services.delegation import signable_roles
from qms.services.qualification import signing_training_refusal
from qms.views.submission import form_submit

# --- sessions ---------------------------------------------------------------------------------------------


@require_GET
def ccb_session_list(request):
    if not permissions.can_view_changes(request.user):
        raise PermissionDenied("You hold no role in the portal yet.")
    status = request.GET.get("status", "")
    status = status if status in CCBSession.Status.values else ""
    gate = request.GET.get("gate", "")
    gate = gate if gate in Gate.values else ""
    mine = request.GET.get("mine") == "1"
    qs = selectors_ccb.ccb_session_list(user=request.user, status=status, gate=gate, mine=mine)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "emergencies/ccb/session_list.html",
        {
            "page": page,
            "status": status,
            "gate": gate,
            "mine": mine,
            "statuses": CCBSession.Status.choices,
            "gates": [c for c in Gate.choices if c[0] != Gate.DECLARE],
        },
    )


def _conveneable_gates(change: ChangeRecord, rows: list[gates.GateRow]):
    return [
        row.gate
        for row in rows
        if row.gate.session and row.open_session is None and not row.passed and change.status in row.gate.statuses
    ]


def ccb_session_convene(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not ccb.can_convene(request.user, change):
        raise PermissionDenied("Only a configuration manager convenes an emergency CCB, for a procedure that has one.")
    gates_page = selectors_ccb.ccb_change_page(change=change, updates_limit=1)
    conveneable = _conveneable_gates(change, gates_page.gates)
    eligible = selectors_ccb.eligible_members(change=change)
    form = ConveneForm(form_data(request), change=change, actor=request.user, gate_specs=conveneable, eligible=eligible)
    submitted = form_submit(
        request,
        form,
        lambda form: ccb.ccb_session_convene(change_id=change.pk, data=form.to_input(), actor=request.user),
        lambda session: f"{session.identifier} convened. The members have their invitation.",
    )
    if submitted:
        return redirect(submitted.result)
    context = {"change": change, "form": form, "gates": conveneable, "gates_page": gates_page}
    return render(request, "emergencies/ccb/session_form.html", context, status=400 if form.errors else 200)


def _session_context(request, session: CCBSession, **forms) -> dict:
    page = selectors_ccb.ccb_session_page(session=session, user=request.user)
    tally = page.tally
    context = {
        "page": page,
        "session": session,
        "change": page.change,
        "tally": tally,
        "gate": page.gate,
        "decider": ccb.ccb_decider_label(tally),
        "panels": subject_panels(CCBSession._meta.label),
        "vote_form": None,
        "decision_form": None,
        "member_form": None,
        "cancel_form": None,
    }
    if session.is_open and page.me is not None:
        current = page.me.vote.choice if page.me.vote else None
        context["vote_form"] = forms.get("vote_form") or VoteForm(
            choices=tally.choices, initial={"choice": current}, prefix="vote"
        )
        # Shown before the member tries: a vote in a role whose certification is missing or expired is refused.
        context["vote_training_refusal"] = signing_training_refusal(
            subject=session, signer=request.user, role=page.me.member.role
        )
    if page.is_decider:
        context["decision_form"] = forms.get("decision_form") or DecisionForm(
            choices=tally.choices, waivable=page.waivable, suggested=tally.decidable_outcome, prefix="decision"
        )
    if page.can_manage:
        eligible = selectors_ccb.eligible_members(change=page.change)
        seated = {m.member.user_id for m in tally.members}
        context["member_form"] = forms.get("member_form") or MemberAddForm(
            eligible=eligible, seated=seated, prefix="member"
        )
        context["cancel_form"] = forms.get("cancel_form") or CancelForm(prefix="cancel")
    return context


@require_GET
def ccb_session_detail(request, pk):
    session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
    return render(request, "emergencies/ccb/session_detail.html", _session_context(request, session))


def session_state(session: CCBSession) -> str:
    """What the page was rendered for: when it changes (decided, cancelled, more information asked), the
    polling tally reloads the whole page so its forms follow."""
    return f"{session.status}-{session.deferrals}"


@require_GET
def ccb_session_tally(request, pk):
    session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
    if request.htmx and request.GET.get("state", session_state(session)) != session_state(session):
        return HttpResponseClientRefresh()
    tally = selectors_ccb.ccb_session_tally(session=session)
    return render(
        request,
        "emergencies/ccb/includes/tally.html",
        {
            "session": session,
            "tally": tally,
            "decider": ccb.ccb_decider_label(tally),
            # The decider's "record the decision" card follows the votes too (an out-of-band swap).
            "oob": session.is_open and request.user.pk in tally.decider_user_ids,
        },
    )


def _post_action(request, pk, form, action, success: str, form_name: str):
    session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
    if form_submit(request, form, lambda form: action(session, form), success):
        return redirect(session)
    session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
    context = _session_context(request, session, **{form_name: form})
    return render(request, "emergencies/ccb/session_detail.html", context, status=400)


def _choices(session: CCBSession) -> dict[str, str]:
    rules = session.change.rules
    gate = rules.ccb_gate(session.gate)
    return {code: rules.ccb_outcome_label(gate, code) for code in gate.outcomes}


@require_POST
def ccb_vote(request, pk):
    session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)

    def act(session, form):
        data = form.cleaned_data
        ccb.ccb_vote_cast(
            session_id=session.pk,
            voter=request.user,
            password=data["password"],
            choice=data["choice"],
            comment=data["comment"],
            auth=signing_auth(request),
        )

    form = VoteForm(request.POST, choices=_choices(session), prefix="vote")
    return _post_action(request, pk, form, act, "Your vote is signed and counted.", "vote_form")


@require_POST
def ccb_decide(request, pk):
    session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)

    def act(session, form):
        ccb.ccb_session_decide(
            session_id=session.pk,
            decider=request.user,
            password=form.cleaned_data["password"],
            data=form.to_input(),
            auth=signing_auth(request),
        )

    rules = session.change.rules
    gate = rules.ccb_gate(session.gate)
    waivable = rules.ccb_waivable if gate.grants_waivers else {}
    form = DecisionForm(request.POST, choices=_choices(session), waivable=waivable, prefix="decision")
    return _post_action(request, pk, form, act, "Decision signed and recorded.", "decision_form")


@require_POST
def ccb_member_add(request, pk):
    session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)

    def act(session, form):
        user, role = form.person_and_role()
        ccb.ccb_member_add(session_id=session.pk, user=user, role=role, actor=request.user)

    eligible = selectors_ccb.eligible_members(change=session.change)
    form = MemberAddForm(request.POST, eligible=eligible, seated=set(), prefix="member")
    return _post_action(request, pk, form, act, "Member seated and invited.", "member_form")


@require_POST
def ccb_cancel(request, pk):
    def act(session, form):
        ccb.ccb_session_cancel(session_id=session.pk, actor=request.user, reason=form.cleaned_data["reason"])

    return _post_action(
        request, pk, CancelForm(request.POST, prefix="cancel"), act, "Session cancelled.", "cancel_form"
    )


@require_GET
def ccb_session_ics(request, pk):
    session = selectors_ccb.ccb_session_get_for_user(pk=pk, user=request.user)
    members = list(session.members.select_related("user"))
    method = "CANCEL" if session.status == CCBSession.Status.CANCELLED else "REQUEST"
    response = HttpResponse(ccb.ccb_session_ics(session, members, method=method), content_type="text/calendar")
    response["Content-Disposition"] = f'attachment; filename="{session.identifier}.ics"'
    return response


# --- a change's gates and communication ------------------------------------------------------------------------


def _change_for_ccb(request, identifier) -> ChangeRecord:
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not change.rules.ccb_required:
        raise PermissionDenied(
            f"{change.procedure_version.procedure.title} has no change control board or decision gates."
        )
    return change


def _gates_context(request, change: ChangeRecord, **forms) -> dict:
    user = request.user
    page = selectors_ccb.ccb_change_page(change=change)
    rules = change.rules
    declare = next((g for g in rules.ccb_gates() if g.code == Gate.DECLARE), None)
    declared = next((row for row in page.gates if row.gate.code == Gate.DECLARE and row.decision), None)
    declare_roles = signable_roles(user, declare.roles) if declare else []
    open_change = change.status not in (ChangeRecord.Status.CLOSED, ChangeRecord.Status.CONVERTED)
    context = {
        "change": change,
        "page": page,
        "can_convene": ccb.can_convene(user, change) and bool(_conveneable_gates(change, page.gates)),
        "declare_form": None,
        "update_form": None,
        "regulatory_form": None,
        "can_verify": permissions.can_edit_change(change, user),
    }
    if declare_roles and declared is None and open_change:
        context["declare_form"] = forms.get("declare_form") or DeclareForm(
            change=change, roles=declare_roles, prefix="gate1"
        )
    if open_change and communication.can_post_status_update(user, change):
        context["update_form"] = forms.get("update_form") or StatusUpdateForm(prefix="update")
    if rules.regulatory_authorities and communication.can_record_regulatory(user, change):
        context["regulatory_form"] = forms.get("regulatory_form") or RegulatoryForm(prefix="regulatory")
    return context


@require_GET
def ccb_change_gates(request, identifier):
    change = _change_for_ccb(request, identifier)
    return render(request, "emergencies/ccb/change_gates.html", _gates_context(request, change))


def _post_change_action(request, identifier, form, action, success: str, form_name: str):
    change = _change_for_ccb(request, identifier)
    if form_submit(request, form, lambda form: action(change, form), success):
        return redirect("emergencies:ccb-change-gates", identifier=change.identifier)
    change = _change_for_ccb(request, identifier)
    return render(
        request, "emergencies/ccb/change_gates.html", _gates_context(request, change, **{form_name: form}), status=400
    )


@require_POST
def ccb_declare(request, identifier):
    change = _change_for_ccb(request, identifier)

    def act(change, form):
        gates.gate_declare_record(
            change_id=change.pk,
            actor=request.user,
            password=form.cleaned_data["password"],
            data=form.to_input(),
            auth=signing_auth(request),
        )

    declare = change.rules.ccb_gate(Gate.DECLARE)
    form = DeclareForm(request.POST, change=change, roles=list(declare.roles), prefix="gate1")
    return _post_change_action(request, identifier, form, act, "Gate 1 signed and recorded.", "declare_form")


@require_POST
def ccb_status_update(request, identifier):
    def act(change, form):
        communication.status_update_post(change_id=change.pk, data=form.to_input(), actor=request.user)

    form = StatusUpdateForm(request.POST, prefix="update")
    return _post_change_action(request, identifier, form, act, "Status update posted.", "update_form")


@require_POST
def ccb_regulatory(request, identifier):
    def act(change, form):
        communication.regulatory_notification_record(change_id=change.pk, data=form.to_input(), actor=request.user)

    form = RegulatoryForm(request.POST, prefix="regulatory")
    return _post_change_action(request, identifier, form, act, "Regulatory notification recorded.", "regulatory_form")


@require_POST
def ccb_verification(request, identifier):
    change = _change_for_ccb(request, identifier)
    try:
        gates.change_verification_set(
            change_id=change.pk, complete=request.POST.get("complete") == "1", actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Verification status updated.")
    next_url = request.POST.get("next", "")
    if next_url.startswith("/") and url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("emergencies:ccb-change-gates", identifier=change.identifier)
