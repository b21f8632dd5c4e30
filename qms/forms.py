from django import forms

from qms.models import ApiToken, User


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["time_zone"]
        help_texts = {"time_zone": "Times across the portal are shown in this zone."}


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
