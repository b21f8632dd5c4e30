"""The forms of a change record itself: the emergency stub an on-call engineer files, and a transition's reason."""

from decimal import Decimal

from django import forms

from emergencies.models import INCIDENT_TICKET_VALIDATOR
from emergencies.selectors import commanders
from emergencies.services import StubInput
from qms.limits import TEXT_MAX, TITLE_MAX
from qms.procedures import CATEGORY_CHOICES, DEFAULT_PROCEDURE_CODE
from qms.services.procedures import procedure_versions_in_force


class EmergencyStubForm(forms.Form):
    """The one short form an on-call engineer fills in mid-incident. Only three fields are required."""

    title = forms.CharField(
        max_length=TITLE_MAX,
        label="Title",
        help_text="What is broken, in a few words.",
        widget=forms.TextInput(attrs={"autofocus": True, "placeholder": "Checkout API returns 500 for all users"}),
    )
    category = forms.ChoiceField(choices=CATEGORY_CHOICES, widget=forms.RadioSelect)
    problem_statement = forms.CharField(
        max_length=TEXT_MAX,
        label="Problem statement",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What users see, since when, what you know so far.",
    )
    incident_ticket = forms.CharField(
        required=False,
        max_length=40,
        validators=[INCIDENT_TICKET_VALIDATOR],
        label="Existing incident ticket",
        widget=forms.TextInput(attrs={"placeholder": "INC-1234"}),
        help_text="Leave empty to open a new incident.",
    )
    cvss_score = forms.DecimalField(
        required=False,
        label="CVSS score",
        max_digits=3,
        decimal_places=1,
        min_value=Decimal("0.0"),
        max_value=Decimal("10.0"),
        widget=forms.NumberInput(attrs={"step": "0.1", "min": "0", "max": "10", "inputmode": "decimal"}),
        help_text="Required for critical security (≥ 9.0).",
    )
    security_involved = forms.BooleanField(required=False, label="Security involved")
    compliance_involved = forms.BooleanField(required=False, label="Compliance involved")
    safety_related = forms.BooleanField(required=False, label="Safety-related")
    commander = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="Incident commander",
        empty_label="— notify all incident commanders —",
    )
    procedure = forms.ModelChoiceField(queryset=None, required=False, empty_label=None, label="Procedure")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["commander"].queryset = commanders()
        self.fields["commander"].label_from_instance = lambda u: u.display_name
        current = procedure_versions_in_force()
        self.fields["procedure"].queryset = current.order_by("procedure__title")
        self.fields["procedure"].label_from_instance = lambda v: f"{v.procedure.title} (v{v.version})"
        if not self.is_bound:  # a bound form shows what was sent, never its initial values: no query for them
            self.fields["procedure"].initial = next(
                (v for v in self.fields["procedure"].queryset if v.procedure.code == DEFAULT_PROCEDURE_CODE), None
            )

    def to_input(self) -> StubInput:
        data = self.cleaned_data
        procedure = data.get("procedure")
        return StubInput(
            title=data["title"],
            category=data["category"],
            problem_statement=data["problem_statement"],
            incident_ticket=data.get("incident_ticket") or "",
            cvss_score=data.get("cvss_score"),
            security_involved=data.get("security_involved", False),
            compliance_involved=data.get("compliance_involved", False),
            safety_related=data.get("safety_related", False),
            commander=data.get("commander"),
            **({"procedure_code": procedure.procedure.code} if procedure else {}),
        )


class TransitionForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
