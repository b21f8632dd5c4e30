"""The war room of an emergency: its live timeline (htmx polling, no reload), responders' entries and
corrections, status updates to the procedure's audiences, and picking rows for the post-mortem timeline."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from emergencies import permissions, selectors
from emergencies.forms import WarRoomEntryForm
from emergencies.forms.ccb import StatusUpdateForm
from emergencies.models import PostMortem, WarRoomEntry
from emergencies.services import communication, warroom
from qms.forms.base import apply_validation_error
from qms.views.submission import form_submit


def _context(request, change, **extra):
    rows = selectors.war_room_timeline(change=change)
    can_post = warroom.can_post_war_room(request.user, change) and change.is_open
    return {
        "change": change,
        "rows": rows,
        "row_count": len(rows),
        "can_post": can_post,
        "can_update": bool(change.rules.communication) and communication.can_post_status_update(request.user, change),
        "entry_form": extra.pop("entry_form", None) or WarRoomEntryForm(entries=_entries(change)),
        "update_form": extra.pop("update_form", None) or StatusUpdateForm(prefix="update"),
        "post_mortem": PostMortem.objects.filter(change=change).first(),
        **extra,
    }


def _entries(change):
    return list(WarRoomEntry.objects.filter(change=change).order_by("posted_at", "pk"))


@require_GET
def war_room(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    return render(request, "emergencies/warroom.html", _context(request, change))


@require_GET
def war_room_timeline(request, identifier):
    """The timeline alone, polled by the page every few seconds."""
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    rows = selectors.war_room_timeline(change=change)
    return render(
        request,
        "emergencies/includes/warroom_timeline.html",
        {
            "change": change,
            "rows": rows,
            "row_count": len(rows),
            "can_post": warroom.can_post_war_room(request.user, change),
        },
    )


@require_POST
def war_room_entry(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not warroom.can_post_war_room(request.user, change):
        raise PermissionDenied("You may not write in this war room.")
    form = WarRoomEntryForm(request.POST, entries=_entries(change))
    if form.is_valid():
        try:
            warroom.war_room_entry_post(
                change_id=change.pk,
                kind=form.cleaned_data["kind"],
                text=form.cleaned_data["text"],
                corrects_id=form.cleaned_data.get("corrects"),
                actor=request.user,
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if request.htmx:
                return war_room_timeline(request, identifier)
            return redirect("emergencies:war-room", identifier=identifier)
    return render(request, "emergencies/warroom.html", _context(request, change, entry_form=form), status=400)


@require_POST
def war_room_update(request, identifier):
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    if not communication.can_post_status_update(request.user, change):
        raise PermissionDenied("You may not post updates on this change.")
    form = StatusUpdateForm(request.POST, prefix="update")
    posted = form_submit(
        request,
        form,
        lambda form: communication.status_update_post(change_id=change.pk, data=form.to_input(), actor=request.user),
        "Status update posted; it counts once it has been sent.",
    )
    if posted:
        return redirect("emergencies:war-room", identifier=identifier)
    return render(request, "emergencies/warroom.html", _context(request, change, update_form=form), status=400)


@require_POST
def war_room_prefill(request, identifier):
    """The post-mortem author's picked rows go into the post-mortem timeline."""
    change = selectors.change_get_for_user(identifier=identifier, user=request.user)
    post_mortem = PostMortem.objects.filter(change=change).first()
    if post_mortem is None or not permissions.can_work_on_change(change, request.user):
        raise PermissionDenied("Start the post-mortem first; only those working on the change edit it.")
    try:
        added = warroom.post_mortem_timeline_prefill(
            post_mortem_id=post_mortem.pk, keys=request.POST.getlist("rows"), actor=request.user
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("emergencies:war-room", identifier=identifier)
    messages.success(request, f"{len(added)} row(s) added to the post-mortem timeline.")
    return redirect(reverse("emergencies:post-mortem", kwargs={"identifier": identifier}))
