from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from qms.forms import ApiTokenForm, PreferencesForm
from qms.forms.base import apply_validation_error, form_data
from qms.models import SignerState, User
from qms.registry import dashboard_widgets
from qms.roles import Role
from qms.security import user_has_verified_second_factor
from qms.services import signer_unlock, user_preferences_update
from qms.services.tokens import api_token_create, api_token_list, api_token_revoke


@login_required
def dashboard(request):
    return render(request, "qms/dashboard.html", {"widgets": dashboard_widgets()})


def _preferences_page(request, *, form=None, token_form=None, new_token=None, status=200):
    return render(
        request,
        "qms/preferences.html",
        {
            "form": form or PreferencesForm(instance=request.user),
            "token_form": token_form or ApiTokenForm(),
            "tokens": api_token_list(user=request.user),
            "new_token": new_token,
            "second_factor_verified": user_has_verified_second_factor(request),
        },
        status=status,
    )


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
    return _preferences_page(request, form=form, status=400 if form.errors else 200)


@login_required
@require_POST
def api_token_create_view(request):
    """Create a scoped token; its secret is shown on this answer only."""
    form = ApiTokenForm(request.POST)
    if form.is_valid():
        try:
            token, raw = api_token_create(
                user=request.user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=timezone.now() + timedelta(days=form.cleaned_data["expires_in_days"]),
                second_factor_verified=user_has_verified_second_factor(request),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _preferences_page(request, new_token={"token": token, "secret": raw})
    return _preferences_page(request, token_form=form, status=400)


@login_required
@require_POST
def api_token_revoke_view(request, token_id: int):
    token = api_token_revoke(token_id=token_id, actor=request.user)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("qms:preferences")


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
