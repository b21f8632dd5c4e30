from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from qms.forms import PreferencesForm
from qms.forms_util import apply_validation_error, form_data
from qms.registry import dashboard_widgets
from qms.services import user_preferences_update


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
