from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from qms.forms import ApiTokenForm, PreferencesForm
from qms.forms_util import apply_validation_error, form_data
from qms.registry import dashboard_widgets
from qms.security import user_has_verified_second_factor
from qms.services import user_preferences_update
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
        user_preferences_update(user=request.user, time_zone=form.cleaned_data["time_zone"])
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
