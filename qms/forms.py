from django import forms

from qms.models import TIME_ZONE_CHOICES, User


class PreferencesForm(forms.ModelForm):
    """The zone is typed with suggestions (a searchable list of 500+ zones), the browser's own zone first."""

    class Meta:
        model = User
        fields = ["time_zone"]
        help_texts = {"time_zone": "Times across the portal are shown in this zone. Type to search, e.g. “Paris”."}
        widgets = {
            "time_zone": forms.TextInput(
                attrs={"list": "tz-list", "autocomplete": "off", "spellcheck": "false", "data-tz-picker": ""}
            )
        }

    zones = [name for name, _ in TIME_ZONE_CHOICES]
