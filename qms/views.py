from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from qms.forms import PreferencesForm
from qms.forms_util import apply_validation_error, form_data
from qms.models import SignerState, User
from qms.registry import dashboard_widgets
from qms.roles import Role
from qms.services import signer_unlock, user_preferences_update


@login_required
def dashboard(request):
    return render(request, "qms/dashboard.html", {"widgets": dashboard_widgets()})


@login_required
def preferences(request):
    form = PreferencesForm(form_data(request), instance=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user_preferences_update(
                user=request.user,
                time_zone=data["time_zone"],
                notify_by_email=data["notify_by_email"],
                notify_by_slack=data["notify_by_slack"],
                slack_user_id=data["slack_user_id"],
            )
        except ValidationError as exc:
            request.user.refresh_from_db()
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Preferences saved.")
            return redirect("qms:preferences")
    return render(request, "qms/preferences.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


def _may_see_user(viewer, user) -> bool:
    return viewer.pk == user.pk or viewer.has_role(Role.SECURITY)


@login_required
@require_GET
def user_list(request):
    """Security officers: every user whose signing is locked, first."""
    if not request.user.has_role(Role.SECURITY):
        raise PermissionDenied("The user list is for security officers.")
    locked = SignerState.objects.filter(locked_at__isnull=False).select_related("user").order_by("-locked_at")
    return render(request, "qms/user_list.html", {"locked": locked})


@login_required
@require_GET
def user_detail(request, user_id):
    user = User.objects.filter(pk=user_id).first()
    if user is None or not _may_see_user(request.user, user):
        raise Http404
    state = SignerState.objects.filter(user=user).first()
    return render(
        request,
        "qms/user_detail.html",
        {
            "person": user,
            "state": state,
            "can_unlock": request.user.has_role(Role.SECURITY) and state is not None and state.locked_at is not None,
        },
    )


@login_required
@require_POST
def user_signing_unlock(request, user_id):
    user = User.objects.filter(pk=user_id).first()
    if user is None or not _may_see_user(request.user, user):
        raise Http404
    try:
        signer_unlock(user=user, actor=request.user, reason=request.POST.get("reason", "")[:1000])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{user.display_name} can sign again; they have been told.")
    return redirect("qms:user-detail", user_id=user.pk)
