"""The forms after the fix: the change's documentation, rollback-trigger readings, the post-mortem with its
action items and preventive measures, and retroactive gate results."""

from django import forms

from emergencies.models import ActionItem, ChangeRecord, GateResult, PostMortem, PreventiveMeasure
from emergencies.services.postincident import POST_MORTEM_FIELDS
from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.models import User
from qms.procedures import GATE_CODE_MAX, GATE_CODE_VALIDATOR


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
    # Any gate code; the service checks it against the change's procedure version and its emergency bypass.
    gate = forms.CharField(max_length=GATE_CODE_MAX, validators=[GATE_CODE_VALIDATOR])
    result = forms.ChoiceField(choices=GateResult.Result.choices)
    evidence = forms.CharField(
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Link or describe the run, report or review that shows the result.",
    )
