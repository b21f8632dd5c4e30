from decimal import Decimal

from django import forms

from emergencies.models import (
    INCIDENT_TICKET_VALIDATOR,
    ActionItem,
    BypassRequest,
    ChangeRecord,
    GateResult,
    HandoffRequest,
    Incident,
    PostMortem,
    PreventiveMeasure,
)
from emergencies.selectors import commanders
from emergencies.services import StubInput
from emergencies.services.bypasses import BypassInput
from emergencies.services.postincident import POST_MORTEM_FIELDS
from qms.limits import COMMENT_MAX, TEXT_MAX, TITLE_MAX
from qms.models import User
from qms.procedures import CATEGORY_CHOICES, CHECK_CATALOGUE, DEFAULT_PROCEDURE_CODE
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
        default = next(
            (v for v in self.fields["procedure"].queryset if v.procedure.code == DEFAULT_PROCEDURE_CODE), None
        )
        self.fields["procedure"].initial = default

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
    checks = forms.MultipleChoiceField(
        choices=[(k, f"{c['label']} (from {c['min_level']})") for k, c in CHECK_CATALOGUE.items()],
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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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

    gate = forms.ChoiceField(label="Check", choices=[(k, v["label"]) for k, v in CHECK_CATALOGUE.items()])
    evidence = forms.CharField(
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Link or describe the passing run, report or review.",
    )

    def __init__(self, *args, open_checks: list[tuple[str, str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if open_checks is not None:  # shown: the checks still open; a posted one is checked by the service
            self.fields["gate"].choices = open_checks


class DocumentationForm(forms.ModelForm):
    """The full CHG documentation of §4.1, completed after the incident."""

    class Meta:
        model = ChangeRecord
        fields = [
            "problem_statement",
            "root_cause",
            "impact_assessment",
            "timeline",
            "affected_artifacts",
            "resolution",
            "rollback_plan",
            "lessons_learned",
        ]
        labels = {
            "problem_statement": "Complete problem statement",
            "root_cause": "Root cause analysis",
            "timeline": "Timeline of events",
            "affected_artifacts": "All affected artifacts",
            "resolution": "Resolution details",
        }
        widgets = {name: forms.Textarea(attrs={"rows": 3}) for name in fields}


class RollbackReadingForm(forms.Form):
    error_rate_increase_pct = forms.DecimalField(
        label="Error-rate increase (%)", max_digits=6, decimal_places=2, min_value=-100
    )
    response_time_ratio = forms.DecimalField(
        label="Response time vs baseline (×)", max_digits=6, decimal_places=2, min_value=0
    )
    new_critical_errors = forms.IntegerField(label="New critical errors", min_value=0)
    note = forms.CharField(max_length=COMMENT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class PostMortemForm(forms.ModelForm):
    timeline_text = forms.CharField(
        max_length=TEXT_MAX,
        label="Timeline",
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One event per line: YYYY-MM-DD HH:MM  what happened (UTC).",
    )

    class Meta:
        model = PostMortem
        fields = list(POST_MORTEM_FIELDS)
        widgets = {
            "post_mortem_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "incident_start": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            "incident_end": forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
            **{
                name: forms.Textarea(attrs={"rows": 2})
                for name in (
                    "why_1",
                    "why_2",
                    "why_3",
                    "why_4",
                    "why_5",
                    "contributing_factors",
                    "resolution",
                    "went_well",
                    "went_poorly",
                    "got_lucky",
                )
            },
        }


class ActionItemForm(forms.ModelForm):
    class Meta:
        model = ActionItem
        fields = ["action", "owner", "due_date"]
        widgets = {"due_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = User.objects.filter(is_active=True).order_by("first_name")
        self.fields["owner"].label_from_instance = lambda u: u.display_name


class PreventiveMeasureForm(forms.ModelForm):
    class Meta:
        model = PreventiveMeasure
        fields = ["measure", "category", "priority"]


class GateResultForm(forms.Form):
    gate = forms.ChoiceField(choices=[(k, v["label"]) for k, v in CHECK_CATALOGUE.items()])
    result = forms.ChoiceField(choices=GateResult.Result.choices)
    evidence = forms.CharField(
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Link or describe the run, report or review that shows the result.",
    )


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


class WarRoomEntryForm(forms.Form):
    """A responder's log line in the war room; a correction names the entry it corrects."""

    kind = forms.ChoiceField(
        choices=[("note", "Note"), ("decision", "Decision"), ("call", "Call"), ("action", "Action")], initial="note"
    )
    text = forms.CharField(
        max_length=4000,
        label="Entry",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "decision: roll back to 4.1"}),
    )
    corrects = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Corrects entry", help_text="Entries are never edited."
    )

    def __init__(self, *args, entries=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["corrects"].choices = [("", "— a new entry —")] + [
            (e.pk, f"#{e.pk} {e.posted_at:%H:%M} UTC {e.get_kind_display()}: {e.text[:60]}") for e in entries
        ]


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
