"""Input of the roster pages: a rotation, an override, an iCalendar file. Times are in the reader's zone."""

from __future__ import annotations

from django import forms

from qms.limits import COMMENT_MAX, LIST_MAX, TITLE_MAX
from qms.models import User
from qms.roles import Role
from qms.roster.models import Slot

WHEN = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _holders(role: Role):
    return User.objects.filter(is_active=True, groups__name=role.group_name).distinct().order_by("first_name")


class RotationForm(forms.Form):
    name = forms.CharField(max_length=TITLE_MAX, initial="Weekly rotation")
    slot = forms.ChoiceField(choices=Slot.choices)
    members = forms.CharField(
        max_length=2_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Usernames in turn order, one a line (or comma-separated).",
    )
    starts_at = forms.DateTimeField(label="First handover (your time zone)", widget=WHEN)
    period_days = forms.IntegerField(label="Days per turn", min_value=1, max_value=28, initial=7)
    ends_at = forms.DateTimeField(label="Ends (optional)", required=False, widget=WHEN)

    def __init__(self, *args, role: Role, **kwargs):
        super().__init__(*args, **kwargs)
        self.role = role

    def clean_members(self) -> list[User]:
        """The people in turn order; whether they hold the role is the service's to say."""
        names = [n.strip() for n in self.cleaned_data["members"].replace(",", "\n").splitlines() if n.strip()]
        found = {u.username.lower(): u for u in User.objects.filter(username__in=names)}
        unknown = [n for n in names if n.lower() not in found]
        if unknown:
            raise forms.ValidationError(f"No such user: {', '.join(unknown[:10])}.")
        return [found[n.lower()] for n in names]


class OverrideForm(forms.Form):
    slot = forms.ChoiceField(choices=Slot.choices)
    user = forms.ModelChoiceField(queryset=User.objects.none(), label="Person", to_field_name="username")
    starts_at = forms.DateTimeField(label="From (your time zone)", widget=WHEN)
    ends_at = forms.DateTimeField(label="Until (your time zone)", widget=WHEN)
    reason = forms.CharField(max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, role: Role, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _holders(role)


class ImportForm(forms.Form):
    file = forms.FileField(label="iCalendar file (.ics)", help_text=f"At most {LIST_MAX:,} bytes.")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > LIST_MAX:
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; at most {LIST_MAX:,} are imported at once."
            )
        return upload
