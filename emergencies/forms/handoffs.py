"""The form that asks the next person (or anyone holding a role) for a step of a change."""

from django import forms

from emergencies.models import HandoffRequest
from qms.models import User


class HandoffRequestForm(forms.Form):
    """Ask the next person for a step: a named person, or anyone holding a role."""

    kind = forms.ChoiceField(label="Step", choices=HandoffRequest.Kind.choices)
    assignee = forms.ModelChoiceField(
        label="Person", queryset=User.objects.none(), required=False, empty_label="— anyone in the role below —"
    )
    role = forms.ChoiceField(
        label="or role", choices=[("", "—"), *HandoffRequest._meta.get_field("role").choices], required=False
    )
    note = forms.CharField(label="Note", required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, candidates=None, kinds=None, **kwargs):
        super().__init__(*args, **kwargs)
        if candidates is not None:
            self.fields["assignee"].queryset = candidates
            self.fields["assignee"].label_from_instance = lambda u: f"{u.display_name} ({u.username})"
        if kinds is not None:
            self.fields["kind"].choices = [(k, label) for k, label in HandoffRequest.Kind.choices if k in kinds]
