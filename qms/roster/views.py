"""Pages of the on-call roster: who is on call, the roster of a role (and its edits), coverage gaps, and the
one-click acknowledgement of a page."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qms.models import User
from qms.roles import KEY_ROLES, Role
from qms.roster import services
from qms.roster.forms import ImportForm, OverrideForm, RotationForm
from qms.roster.models import OnCallPage, OnCallShift
from qms.roster.paging import ack_token_read
from qms.roster.permissions import can_edit_roster, can_see_gaps, can_view_roster
from qms.roster.schedule import _coverage, coverage_gaps, roster_load, roster_segments
from qms.views.submission import form_submit

AHEAD_DAYS = 28
GAP_DAYS_MAX = 90


def _key_role(value: str) -> Role:
    try:
        role = Role(value)
    except ValueError:
        raise Http404 from None
    if role not in KEY_ROLES:
        raise Http404
    return role


def _viewer(request) -> None:
    if not can_view_roster(request.user):
        raise PermissionDenied("The on-call roster is for people holding a role in the portal.")


@login_required
@require_GET
def roster_overview(request):
    _viewer(request)
    now = timezone.now()
    rosters = roster_load(start=now, end=now + timedelta(seconds=1))
    rows = [(role, _coverage(roster, now), roster.exists) for role, roster in rosters.items()]
    return render(request, "qms/roster/overview.html", {"rows": rows, "can_see_gaps": can_see_gaps(request.user)})


def _role_page(request, role: Role, *, rotation_form=None, override_form=None, import_form=None, status=200):
    now = timezone.now()
    end = now + timedelta(days=AHEAD_DAYS)
    roster = roster_load(roles=(role,), start=now, end=end)[role]
    editable = can_edit_roster(request.user, role)
    return render(
        request,
        "qms/roster/role.html",
        {
            "role": role,
            "now": _coverage(roster, now),
            "roster": roster,
            "segments": roster_segments(roster, start=now, end=end) if roster.exists else [],
            "ahead_days": AHEAD_DAYS,
            "overrides": [s for s in roster.overrides if s.ends_at > now],
            "editable": editable,
            "rotation_form": rotation_form or RotationForm(role=role),
            "override_form": override_form or OverrideForm(role=role),
            "import_form": import_form or ImportForm(),
        },
        status=status,
    )


@login_required
@require_GET
def roster_role(request, role: str):
    _viewer(request)
    return _role_page(request, _key_role(role))


def _editor(request, role: Role) -> None:
    if not can_edit_roster(request.user, role):
        raise PermissionDenied(f"Only QMS coordinators and the role's manager edit the {role.label} roster.")


@login_required
@require_POST
def rotation_create_view(request, role: str):
    role = _key_role(role)
    _editor(request, role)
    form = RotationForm(request.POST, role=role)

    def save(form):
        data = form.cleaned_data
        return services.rotation_create(
            role=role.value,
            slot=data["slot"],
            name=data["name"],
            members=data["members"],
            starts_at=data["starts_at"],
            period_days=data["period_days"],
            ends_at=data["ends_at"],
            actor=request.user,
        )

    if form_submit(request, form, save, lambda _: f"{role.label} rotation “{form.cleaned_data['name']}” saved."):
        return redirect("qms:oncall-role", role=role.value)
    return _role_page(request, role, rotation_form=form, status=400)


@login_required
@require_POST
def override_add_view(request, role: str):
    role = _key_role(role)
    _editor(request, role)
    form = OverrideForm(request.POST, role=role)

    def save(form):
        data = form.cleaned_data
        return services.override_add(
            role=role.value,
            slot=data["slot"],
            user=data["user"],
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            reason=data["reason"],
            actor=request.user,
        )

    if form_submit(request, form, save, lambda _: f"Override for {form.cleaned_data['user'].display_name} saved."):
        return redirect("qms:oncall-role", role=role.value)
    return _role_page(request, role, override_form=form, status=400)


@login_required
@require_POST
def roster_import_view(request, role: str):
    role = _key_role(role)
    _editor(request, role)
    form = ImportForm(request.POST, request.FILES)

    def save(form):
        upload = form.cleaned_data["file"]
        return services.roster_import(
            role=role.value, content=upload.read(), filename=upload.name or "", actor=request.user
        )

    if form_submit(
        request, form, save, lambda imported: f"Imported {imported.shift_count} shifts into the {role.label} roster."
    ):
        return redirect("qms:oncall-role", role=role.value)
    return _role_page(request, role, import_form=form, status=400)


@login_required
@require_GET
def coverage_gaps_view(request):
    if not can_see_gaps(request.user):
        raise PermissionDenied("Coverage gaps are for QMS coordinators and auditors.")
    try:
        days = min(max(int(request.GET.get("days", 14)), 1), GAP_DAYS_MAX)
    except ValueError:
        days = 14
    gaps = coverage_gaps(days=days)
    return render(request, "qms/roster/gaps.html", {"gaps": gaps, "days": days, "max_days": GAP_DAYS_MAX})


@require_http_methods(["GET", "POST"])
def page_acknowledge_view(request, token: str):
    """The link in the page: a page with one button (a GET never writes). The signed token names the page and
    the person; signed in as someone else, the link is refused."""
    found = ack_token_read(token)
    page = (
        OnCallPage.objects.select_related("primary", "backup", "acknowledged_by").filter(pk=found[0]).first()
        if found
        else None
    )
    person = User.objects.filter(pk=found[1], is_active=True).first() if found else None
    if page is None or person is None:
        return render(request, "qms/roster/ack.html", {"invalid": True}, status=404)
    if request.user.is_authenticated and request.user.pk != person.pk:
        raise PermissionDenied(f"This link is {person.display_name}'s; sign out to use it, or open your own.")
    status = 200
    if request.method == "POST":
        via = OnCallPage.Via.SESSION if request.user.is_authenticated else OnCallPage.Via.LINK
        try:
            page = services.page_acknowledge(page_id=page.pk, actor=person, via=via)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 409
        except PermissionDenied as exc:
            messages.error(request, str(exc))
            status = 403
        else:
            messages.success(request, "Acknowledged. The backup will not be paged.")
            page = OnCallPage.objects.select_related("primary", "backup", "acknowledged_by").get(pk=page.pk)
    return render(
        request,
        "qms/roster/ack.html",
        {"page": page, "person": person, "role": Role(page.role), "shift_kinds": OnCallShift.Kind},
        status=status,
    )
