"""The forms of a bypass request: the request, signing and rejecting it, a recorded verbal or written
approval, the password that confirms one, withdrawal and a skipped check's remediation."""

from django import forms

from emergencies.models import INCIDENT_TICKET_VALIDATOR, BypassRequest
from emergencies.services.bypasses import BypassInput
from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.models import User
from qms.procedures import DEFAULT_PROCEDURE_CODE, GATE_CODE_MAX, GATE_CODE_VALIDATOR, ProcedureRules
from qms.services import procedure_version_current


class BypassRequestForm(forms.Form):
    """A bypass request: the decision-tree questions, the failing checks, and the level's information."""

    repository = forms.CharField(max_length=200, widget=forms.TextInput(attrs={"placeholder": "payments-api"}))
    pull_request = forms.CharField(
        max_length=200, label="Pull request", widget=forms.TextInput(attrs={"placeholder": "#1234"})
    )
    production_impact = forms.ChoiceField(
        choices=BypassRequest.Impact.choices,
        widget=forms.RadioSelect(attrs={"class": "decision"}),
        label="Production impact",
    )
    security_involved = forms.BooleanField(
        required=False, label="Security involved", widget=forms.CheckboxInput(attrs={"class": "decision"})
    )
    compliance_involved = forms.BooleanField(
        required=False, label="Compliance involved", widget=forms.CheckboxInput(attrs={"class": "decision"})
    )
    code_quality_only = forms.BooleanField(
        required=False, label="Code quality only", widget=forms.CheckboxInput(attrs={"class": "decision"})
    )
    incident_ticket = forms.CharField(
        required=False,
        max_length=40,
        validators=[INCIDENT_TICKET_VALIDATOR],
        label="Active incident (optional)",
        widget=forms.TextInput(attrs={"placeholder": "INC-…", "class": "decision"}),
        help_text="A critical security or compliance bypass for an active incident is an emergency bypass.",
    )
    checks = forms.MultipleChoiceField(  # the choices: the gate catalogue of the procedure version in force
        widget=forms.CheckboxSelectMultiple,
        label="Failing checks to bypass",
    )
    implementer = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="— me —", help_text="Who merges and deploys the change."
    )
    # Level 1
    reason = forms.CharField(
        max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Reason for the bypass"
    )
    impact_assessment = forms.CharField(max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    risk_evaluation = forms.CharField(max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    # Level 2
    complexity_score = forms.IntegerField(required=False, min_value=1, max_value=10, label="Complexity score (1-10)")
    test_coverage_impact = forms.IntegerField(
        required=False, min_value=0, max_value=100, label="Test-coverage impact (% of paths uncovered)"
    )
    integration_risk = forms.CharField(max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    rollback_feasibility = forms.ChoiceField(required=False, choices=[("", "—"), *BypassRequest.Feasibility.choices])
    business_factors = forms.CharField(
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Users affected, revenue impact, compliance implications, reputation risk.",
    )
    business_justification = forms.CharField(
        max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    stakeholder_notification_plan = forms.CharField(
        max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    # Level 3
    security_impact_analysis = forms.CharField(
        max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    legal_compliance_assessment = forms.CharField(
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Legal/compliance risk assessment",
    )
    remediation_roadmap = forms.CharField(max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    incident_response_plan = forms.CharField(
        max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    communication_strategy = forms.CharField(
        max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    # Remediation plan
    remediation_plan = forms.CharField(max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    remediation_due = forms.DateField(
        required=False,
        label="Remediation target date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    remediation_assignee = forms.ModelChoiceField(queryset=None, required=False, empty_label="— the implementer —")
    tracking_issue = forms.CharField(required=False, max_length=300)
    success_criteria = forms.CharField(max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    DECISION_FIELDS = (
        "production_impact",
        "security_involved",
        "compliance_involved",
        "code_quality_only",
        "incident_ticket",
    )
    LEVEL_FIELDS = {
        "L1": ("reason", "impact_assessment", "risk_evaluation"),
        "L2": (
            "impact_assessment",
            "complexity_score",
            "test_coverage_impact",
            "integration_risk",
            "rollback_feasibility",
            "business_factors",
            "business_justification",
            "stakeholder_notification_plan",
        ),
        "L3": (
            "security_impact_analysis",
            "legal_compliance_assessment",
            "remediation_roadmap",
            "incident_response_plan",
            "communication_strategy",
        ),
        "E": ("reason",),
    }
    PLAN_FIELDS = ("remediation_plan", "remediation_due", "remediation_assignee", "tracking_issue", "success_criteria")

    def __init__(self, *args, procedure_code: str = DEFAULT_PROCEDURE_CODE, **kwargs):
        super().__init__(*args, **kwargs)
        version = procedure_version_current(code=procedure_code)
        self.rules = version.rules if version else ProcedureRules({})  # what the request will be filed under
        catalogue = self.rules.gate_catalogue
        self.fields["checks"].choices = [(k, f"{c['label']} (from {c['min_level']})") for k, c in catalogue.items()]
        people = User.objects.filter(is_active=True).order_by("first_name", "last_name")
        for name in ("implementer", "remediation_assignee"):
            self.fields[name].queryset = people
            self.fields[name].label_from_instance = lambda u: u.display_name

    def level_fields(self, level: str):
        return [self[name] for name in self.LEVEL_FIELDS.get(level, ())]

    def plan_fields(self):
        return [self[name] for name in self.PLAN_FIELDS]

    def to_input(self) -> BypassInput:
        data = self.cleaned_data
        details = {name: data.get(name) for name in BypassInput.detail_names() if data.get(name) not in (None, "")}
        return BypassInput(
            repository=data["repository"],
            pull_request=data["pull_request"],
            checks=data["checks"],
            production_impact=data["production_impact"],
            security_involved=data["security_involved"],
            compliance_involved=data["compliance_involved"],
            code_quality_only=data["code_quality_only"],
            incident_ticket=data.get("incident_ticket") or "",
            implementer=data.get("implementer"),
            details=details,
        )


class SignForm(forms.Form):
    role = forms.ChoiceField(label="Signing as")
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="Your password again: this is your electronic signature.",
    )
    comment = forms.CharField(max_length=COMMENT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, roles=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in roles]


class RejectForm(SignForm):
    comment = forms.CharField(max_length=COMMENT_MAX, label="Reason", widget=forms.Textarea(attrs={"rows": 2}))


class VerbalApprovalForm(forms.Form):
    approver = forms.ModelChoiceField(queryset=None, label="Approved by")
    role = forms.ChoiceField(label="In the role of")
    method = forms.ChoiceField(choices=[("verbal", "Verbally"), ("written", "In writing")])
    approved_at = forms.DateTimeField(
        label="Approved at (your time zone)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    comment = forms.CharField(max_length=COMMENT_MAX, label="How and why", widget=forms.Textarea(attrs={"rows": 2}))
    password = forms.CharField(
        label="Your password",
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text="You sign as the person who recorded the approval.",
    )

    def __init__(self, *args, roles=(), approvers=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in roles]
        self.fields["approver"].queryset = approvers if approvers is not None else User.objects.none()
        self.fields["approver"].label_from_instance = lambda u: u.display_name


class PasswordForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))


class WithdrawForm(forms.Form):
    reason = forms.CharField(max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2}))


class RemediationForm(forms.Form):
    """A check a level 1-3 bypass skipped, shown to pass again."""

    # Offered: the checks still open; posted: any gate code, checked by the service against the bypass's version.
    gate = forms.CharField(
        label="Check", max_length=GATE_CODE_MAX, validators=[GATE_CODE_VALIDATOR], widget=forms.Select
    )
    evidence = forms.CharField(
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Link or describe the passing run, report or review.",
    )

    def __init__(self, *args, open_checks: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if open_checks is not None:
            self.offer(open_checks)

    def offer(self, open_checks: list[tuple[str, str]]) -> None:
        self.fields["gate"].widget.choices = open_checks
