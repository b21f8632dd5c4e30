"""Forms of the emergency CCB pages: input validation only; the rules are the services'."""

from __future__ import annotations

from django import forms
from django.utils import timezone

from emergencies.models import RegulatoryNotification, StatusUpdate
from emergencies.services import ccb, communication, gates
from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.models import User
from qms.roles import Role

PASSWORD_HELP = "Your password again: this is your electronic signature."


def _password(label: str = "Password") -> forms.CharField:
    return forms.CharField(
        label=label,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=PASSWORD_HELP,
    )


def _local_now() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


def _aware(value):
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


class ConveneForm(forms.Form):
    gate = forms.ChoiceField(widget=forms.RadioSelect, label="Gate to decide")
    chair = forms.ModelChoiceField(queryset=User.objects.none(), label="Chair", empty_label=None)
    scheduled_at = forms.DateTimeField(
        label="Starts (your time zone)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    duration_minutes = forms.IntegerField(label="Length (minutes)", min_value=15, max_value=480, initial=60)
    location = forms.CharField(
        label="Where",
        required=False,
        max_length=300,
        widget=forms.TextInput(attrs={"placeholder": "https://meet.example.com/ccb or a room"}),
        help_text="A virtual meeting is acceptable (§7.1).",
    )
    agenda = forms.CharField(
        max_length=TEXT_MAX,
        label="Agenda",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Severity assessment, proposed patch approach, the request.",
    )
    advisers = forms.MultipleChoiceField(
        label="Other members", required=False, widget=forms.CheckboxSelectMultiple, help_text="Optional seats."
    )

    def __init__(self, *args, change, actor, gate_specs, eligible, **kwargs):
        super().__init__(*args, **kwargs)
        self.change = change
        self.seats = [s for s in gates.required_seats(change) if s.role != change.rules.ccb_chair_role]
        chair_role = change.rules.ccb_chair_role
        self.fields["gate"].choices = [(g.code, f"{g.label}: {g.question}") for g in gate_specs]
        if len(gate_specs) == 1:
            self.fields["gate"].initial = gate_specs[0].code
        chairs = [u for u, roles in eligible if chair_role in roles]
        self.fields["chair"].queryset = User.objects.filter(pk__in=[u.pk for u in chairs]).order_by("first_name")
        self.fields["chair"].label_from_instance = lambda u: u.display_name
        self.fields["chair"].initial = actor.pk
        self.fields["scheduled_at"].initial = _local_now()
        self.seat_fields = []
        for seat in self.seats:
            people = [u for u, roles in eligible if seat.role in roles]
            name = f"seat_{seat.role.value}"
            self.fields[name] = forms.TypedChoiceField(
                label=f"{seat.role.label}",
                required=False,
                coerce=int,
                empty_value=None,
                choices=[("", "— nobody yet —"), *((u.pk, u.display_name) for u in people)],
                initial=people[0].pk if len(people) == 1 else None,
                help_text=f"Required: {seat.reason}." if seat.reason != "always" else "Required.",
            )
            self.seat_fields.append(self[name])
        required_roles = {s.role for s in self.seats} | {chair_role}
        self.fields["advisers"].choices = [
            (f"{u.pk}:{r.value}", f"{u.display_name} ({r.label})")
            for u, roles in eligible
            for r in roles
            if r not in required_roles
        ]
        self.people = {u.pk: u for u, _ in eligible}

    def to_input(self) -> ccb.SessionInput:
        data = self.cleaned_data
        members = []
        for seat in self.seats:
            pk = data.get(f"seat_{seat.role.value}")
            if pk:
                members.append((self.people[pk], seat.role))
        for value in data.get("advisers", []):
            pk, role = value.split(":", 1)
            members.append((self.people[int(pk)], Role(role)))
        return ccb.SessionInput(
            gate=data["gate"],
            scheduled_at=_aware(data["scheduled_at"]),
            duration_minutes=data["duration_minutes"],
            location=data.get("location", ""),
            agenda=data.get("agenda", ""),
            members=tuple(members),
            chair=data["chair"],
        )


class VoteForm(forms.Form):
    choice = forms.ChoiceField(widget=forms.RadioSelect, label="Your vote")
    comment = forms.CharField(
        max_length=COMMENT_MAX,
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why, in a line. It is part of the signed vote.",
    )
    password = _password()

    def __init__(self, *args, choices: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["choice"].choices = list(choices.items())


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(widget=forms.RadioSelect, label="Decision")
    reason = forms.CharField(max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2}), label="Reason")
    questions = forms.CharField(
        max_length=TEXT_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Questions (for “more information needed”)",
        help_text="One per line: what the CCB needs answered before it decides.",
    )
    waivers = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Waivers granted (§15)"
    )
    # A signed decision starts empty: the signer chooses the outcome and every consequence (the votes'
    # outcome is shown beside the form, never pre-selected).
    interim_approval = forms.BooleanField(required=False, label="Authorise interim approval")
    fast_track_authority = forms.BooleanField(required=False, label="Grant fast-track deployment authority")
    password = _password()

    def __init__(self, *args, choices: dict[str, str], waivable: dict[str, str], suggested: str | None = None, **kw):
        super().__init__(*args, **kw)
        self.fields["outcome"].choices = list(choices.items())
        self.suggested = suggested
        self.grants = bool(waivable)
        if waivable:
            self.fields["waivers"].choices = list(waivable.items())
        else:
            for name in ("waivers", "interim_approval", "fast_track_authority"):
                del self.fields[name]

    def to_input(self) -> ccb.DecisionInput:
        data = self.cleaned_data
        return ccb.DecisionInput(
            outcome=data["outcome"],
            reason=data["reason"],
            questions=data.get("questions", ""),
            waivers=tuple(data.get("waivers", ())) if data["outcome"] == "approve" else (),
            interim_approval=bool(data.get("interim_approval")) and data["outcome"] == "approve",
            fast_track_authority=bool(data.get("fast_track_authority")) and data["outcome"] == "approve",
        )


class MemberAddForm(forms.Form):
    member = forms.ChoiceField(label="Person and seat")

    def __init__(self, *args, eligible, seated: set[int], **kwargs):
        super().__init__(*args, **kwargs)
        self.people = {u.pk: u for u, _ in eligible}
        self.fields["member"].choices = [
            (f"{u.pk}:{r.value}", f"{u.display_name} — {r.label}")
            for u, roles in eligible
            if u.pk not in seated
            for r in roles
        ]

    def person_and_role(self) -> tuple[User, Role]:
        pk, role = self.cleaned_data["member"].split(":", 1)
        return self.people[int(pk)], Role(role)


class CancelForm(forms.Form):
    reason = forms.CharField(max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2}), label="Why cancel")


class DeclareForm(forms.Form):
    """Gate 1 (§14.1) against the severity criteria of §4."""

    warranted = forms.TypedChoiceField(
        choices=[("yes", "Warranted: emergency process"), ("no", "Not warranted: use the standard process")],
        coerce=lambda v: v == "yes",
        widget=forms.RadioSelect,
        label="Is the emergency process warranted?",
    )
    severity = forms.ChoiceField(widget=forms.RadioSelect, label="Severity (§4)")
    criteria = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, label="Criteria met")
    role = forms.ChoiceField(label="Signing as")
    reason = forms.CharField(max_length=COMMENT_MAX, widget=forms.Textarea(attrs={"rows": 2}), label="Reason")
    password = _password()

    def __init__(self, *args, change, roles: list[Role], **kwargs):
        super().__init__(*args, **kwargs)
        rules = change.rules
        self.fields["severity"].choices = list(rules.severity_labels.items())
        if change.incident_id:
            self.fields["severity"].initial = change.incident.severity
        self.criteria_by_severity = [
            (label, rules.severity_criteria(code)) for code, label in rules.severity_labels.items()
        ]
        self.fields["criteria"].choices = [(c, c) for _, items in self.criteria_by_severity for c in items]
        self.fields["role"].choices = [(r.value, r.label) for r in roles]

    def to_input(self) -> gates.DeclareInput:
        data = self.cleaned_data
        return gates.DeclareInput(
            warranted=data["warranted"],
            severity=data["severity"],
            criteria=tuple(data.get("criteria", ())),
            reason=data["reason"],
            role=Role(data["role"]),
        )


class StatusUpdateForm(forms.Form):
    audience = forms.ChoiceField(choices=StatusUpdate.Audience.choices, initial=StatusUpdate.Audience.INTERNAL)
    current_status = forms.CharField(
        max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), label="Current status"
    )
    actions_taken = forms.CharField(
        max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Actions taken"
    )
    next_steps = forms.CharField(
        max_length=TEXT_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Next steps and timeline"
    )

    def to_input(self) -> communication.StatusUpdateInput:
        data = self.cleaned_data
        return communication.StatusUpdateInput(
            audience=data["audience"],
            current_status=data["current_status"],
            actions_taken=data.get("actions_taken", ""),
            next_steps=data.get("next_steps", ""),
        )


class RegulatoryForm(forms.Form):
    authority = forms.ChoiceField(choices=RegulatoryNotification.Authority.choices)
    authority_name = forms.CharField(required=False, max_length=200, label="Authority name (if other)")
    notified_at = forms.DateTimeField(
        label="Notified at (your time zone)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    reference = forms.CharField(max_length=200, help_text="The authority's reference or your message id.")
    description = forms.CharField(
        max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), label="Issue and proposed patch, as described"
    )
    emergency_approval_requested = forms.BooleanField(
        required=False, initial=True, label="Approval for emergency deployment requested"
    )
    follow_up_commitment = forms.CharField(
        max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 2}), label="Follow-up documentation committed to"
    )
    follow_up_due = forms.DateField(
        required=False, label="Follow-up due", widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["notified_at"].initial = _local_now()

    def to_input(self) -> communication.RegulatoryInput:
        data = self.cleaned_data
        return communication.RegulatoryInput(
            authority=data["authority"],
            authority_name=data.get("authority_name", ""),
            notified_at=_aware(data["notified_at"]),
            reference=data["reference"],
            description=data["description"],
            emergency_approval_requested=data.get("emergency_approval_requested", False),
            follow_up_commitment=data["follow_up_commitment"],
            follow_up_due=data.get("follow_up_due"),
        )
