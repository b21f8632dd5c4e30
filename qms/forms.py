from django import forms

from qms.models import User


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["time_zone"]
        help_texts = {"time_zone": "Times across the portal are shown in this zone."}
