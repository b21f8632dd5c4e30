from __future__ import annotations

from django import forms

from qms.limits import COMMENT_MAX, LINE_MAX
from qms.models import User
from qms.roles import READ_ONLY_ROLES, Role


class TrainingRecordForm(forms.Form):
    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Person")
    course = forms.ChoiceField(choices=())
    completed_on = forms.DateField(label="Completed on", widget=forms.DateInput(attrs={"type": "date"}))
    expires_on = forms.DateField(
        label="Expires on",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: the course's validity from the procedures (annual, or semi-annual for tabletop exercises).",
    )
    evidence_reference = forms.CharField(
        label="Evidence reference", max_length=LINE_MAX, required=False, help_text="Certificate number, LMS link…"
    )
    evidence_file = forms.FileField(label="Evidence file", required=False)
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=COMMENT_MAX, required=False)

    def __init__(self, *args, courses: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = User.objects.filter(is_active=True).order_by("username")
        self.fields["course"].choices = [(code, c["label"]) for code, c in courses.items()]


class TrainingImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: username, course, completed_on, expires_on (optional), evidence_reference, note "
        "(optional). Dates as YYYY-MM-DD. If any row is wrong nothing is imported.",
    )


class DelegationForm(forms.Form):
    role = forms.ChoiceField(choices=())
    delegate = forms.ModelChoiceField(queryset=User.objects.none(), label="Delegate to")
    starts_at = forms.DateTimeField(label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label="Until", widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=COMMENT_MAX)

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        own = [r for r in sorted(user.roles, key=lambda r: r.label) if r not in READ_ONLY_ROLES]
        self.fields["role"].choices = [(r.value, r.label) for r in own]
        self.fields["delegate"].queryset = (
            User.objects.filter(is_active=True).exclude(pk=user.pk).exclude(groups__name=Role.AUDITOR.group_name)
        ).order_by("username")


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=COMMENT_MAX)
