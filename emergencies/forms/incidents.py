"""The form that completes an incident after filing: its commander, severity, detection and affected systems."""

from django import forms

from emergencies.models import Incident
from emergencies.selectors import commanders
from qms.models import User


class IncidentForm(forms.Form):
    """Complete the incident after filing; pre-filled with what is recorded, only the edits change anything."""

    commander = forms.ModelChoiceField(queryset=User.objects.none(), required=False, label="Incident commander")
    severity = forms.ChoiceField(required=False, label="Severity")
    detected_at = forms.DateTimeField(
        required=False, label="Detected at", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    detection_source = forms.ChoiceField(required=False, label="Detected by")
    affected_systems = forms.CharField(
        required=False,
        max_length=10_000,
        label="Affected systems or serial numbers",
        help_text="One per line; they feed the patch package's distribution list.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    reason = forms.CharField(max_length=2000, label="Reason for the change", widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, change=None, **kwargs):
        incident = change.incident if change is not None else None
        if incident is not None and not args and "initial" not in kwargs:
            kwargs["initial"] = {
                "commander": incident.commander_id,
                "severity": incident.severity,
                "detected_at": incident.detected_at,
                "detection_source": incident.detection_source,
                "affected_systems": incident.affected_systems,
            }
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = commanders()
        scale = change.rules.severity_labels if change is not None else {}
        self.fields["severity"].choices = [("", "—"), *scale.items()]
        self.fields["detection_source"].choices = [("", "—"), *Incident.DetectionSource.choices]
