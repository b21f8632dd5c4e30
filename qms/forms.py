from django import forms

from qms.models import User


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["time_zone", "notify_by_email", "notify_by_slack", "slack_user_id"]
        help_texts = {
            "time_zone": "Times across the portal are shown in this zone.",
            "slack_user_id": "Your member id (Slack: profile → ⋮ → Copy member ID), e.g. U0123ABCD.",
        }
