from django import forms

from qms.models import TIME_ZONE_CHOICES, ApiToken, User


class PreferencesForm(forms.ModelForm):
    """The zone is typed with suggestions (a searchable list of 500+ zones), the browser's own zone first."""

    class Meta:
        model = User
        fields = ["time_zone", "notify_by_email", "notify_by_slack", "slack_user_id"]
        help_texts = {
            "time_zone": "Times across the portal are shown in this zone. Type to search, e.g. “Paris”.",
            "slack_user_id": "Your member id (Slack: profile → ⋮ → Copy member ID), e.g. U0123ABCD.",
        }
        widgets = {
            "time_zone": forms.TextInput(
                attrs={"list": "tz-list", "autocomplete": "off", "spellcheck": "false", "data-tz-picker": ""}
            )
        }

    zones = [name for name, _ in TIME_ZONE_CHOICES]


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it: “CI deploy job”, “chat bot”.")
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiToken.Scope.READ],
        help_text="Only what it needs. Signing still asks for your password on every signature.",
    )
    expires_in_days = forms.IntegerField(
        label="Expires in (days)", min_value=1, max_value=366, initial=90, help_text="At most a year."
    )
