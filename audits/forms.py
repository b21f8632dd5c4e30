from datetime import timedelta

from django import forms
from django.utils import timezone


class AuditExportForm(forms.Form):
    date_from = forms.DateField(label="Declared from", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="Declared until (inclusive)", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        today = timezone.now().date()
        self.fields["date_from"].initial = today - timedelta(days=365)
        self.fields["date_to"].initial = today

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end of the range is before its start.")
        return data
