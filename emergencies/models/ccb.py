"""The emergency change control board (CM-WF-EMERGENCY §7, §14, §15): sessions, members, signed votes,
gate decisions, regulatory notifications and status updates.

Votes, gate decisions, regulatory notifications and status updates are append-only records: a changed
vote is a new vote that supersedes the old one, which keeps its row. Sessions and members are mutable
and keep their field history.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX, TEXT_MAX
from qms.procedures.ccb import APPROVE, MORE_INFO, STANDARD
from qms.roles import ROLE_LABELS, Role

ROLE_CHOICES = [(r.value, ROLE_LABELS[r]) for r in Role]


def _never(instance, user) -> bool:
    # Sessions move through emergencies.services.ccb (signed decisions), never as a bare button.
    return False


class Gate(models.TextChoices):
    DECLARE = "declare", "Gate 1: Declare emergency"
    FAST_TRACK = "fast_track", "Gate 2: Approve fast-track"
    DEPLOYMENT = "deployment", "Gate 3: Approve deployment"
    CLOSE = "close", "Gate 4: Close emergency"
    RATIFICATION = "ratification", "Ratification after the fact"


class Choice(models.TextChoices):
    APPROVE = APPROVE, "Approve emergency process"
    STANDARD = STANDARD, "Use standard process"
    MORE_INFO = MORE_INFO, "More information needed"


class CCBSession(FSMModelMixin, models.Model):
    """An emergency CCB session deciding one gate of one change."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DECIDED = "decided", "Decided"
        CANCELLED = "cancelled", "Cancelled"

    identifier = models.CharField(max_length=40, unique=True)
    change = models.ForeignKey("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="ccb_sessions")
    gate = models.CharField(max_length=16, choices=[c for c in Gate.choices if c[0] != Gate.DECLARE])
    status = FSMField(max_length=12, choices=Status.choices, default=Status.OPEN, protected=True, db_index=True)
    chair = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    convened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    convened_at = models.DateTimeField()
    scheduled_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=60)
    location = models.CharField(
        "where", max_length=300, blank=True, help_text="Meeting link or room (a virtual meeting is acceptable)."
    )
    agenda = models.TextField(
        blank=True, help_text="Severity assessment, proposed patch approach, the request.", max_length=TEXT_MAX
    )

    # The decision (§7.2). "More information needed" keeps the session open with its questions.
    outcome = models.CharField(max_length=12, choices=Choice.choices, blank=True)
    decision_reason = models.TextField(blank=True, max_length=COMMENT_MAX)
    questions = models.TextField(
        blank=True, help_text="What the CCB needs to know before it decides.", max_length=TEXT_MAX
    )
    deferrals = models.PositiveSmallIntegerField(default=0)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_signature = models.ForeignKey(
        "qms.Signature", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # What an approval grants (§7.2, §15).
    waivers = models.JSONField(default=list, blank=True, help_text="Codes of the §15 waivers granted.")
    interim_approval = models.BooleanField(default=False)
    fast_track_authority = models.BooleanField(default=False)
    cancel_reason = models.TextField(blank=True, max_length=COMMENT_MAX)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-scheduled_at", "-identifier"]
        constraints = [
            # Two configuration managers convening the same gate at once get one session.
            models.UniqueConstraint(
                fields=["change", "gate"], condition=Q(status="open"), name="ccb_one_open_session_per_gate"
            ),
        ]
        indexes = [models.Index(fields=["status", "-scheduled_at"], name="ccb_status_scheduled")]
        verbose_name = "CCB session"

    def __str__(self) -> str:
        return self.identifier

    def get_absolute_url(self) -> str:
        return reverse("emergencies:ccb-session-detail", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def waiver_labels(self) -> list[str]:
        waivable = self.change.rules.ccb_waivable
        return [waivable.get(code, code) for code in self.waivers]

    def signable_content(self) -> dict:
        return {
            "session": self.identifier,
            "change": self.change.identifier,
            "gate": self.gate,
            "agenda": self.agenda,
        }

    # --- transitions --------------------------------------------------------------------------------

    @transition(field=status, source=Status.OPEN, target=Status.DECIDED, permission=_never)
    def decide(self, *, by, at, outcome, reason, **kwargs) -> None:
        self.outcome, self.decision_reason, self.decided_by, self.decided_at = outcome, reason, by, at

    @transition(field=status, source=Status.OPEN, target=Status.CANCELLED, permission=_never)
    def cancel(self, *, reason, **kwargs) -> None:
        self.cancel_reason = reason


class CCBMember(models.Model):
    """A person sitting on a session in one role. One seat per person per session."""

    session = models.ForeignKey(CCBSession, on_delete=models.PROTECT, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ccb_seats")
    role = models.CharField(max_length=32, choices=ROLE_CHOICES)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["added_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["session", "user"], name="ccb_member_once_per_session")]
        verbose_name = "CCB member"

    def __str__(self) -> str:
        return f"{self.user} ({self.role_label}) on {self.session_id}"

    @property
    def role_label(self) -> str:
        return Role(self.role).label


class Vote(models.Model):
    """One signed vote. Never edited: a changed vote is a new row whose ``supersedes`` names the old one.

    A member's votes form one chain: only one vote per member supersedes nothing (the first), and each
    vote is superseded at most once, so exactly one vote per member is current, even when two requests
    race (the database refuses the second of two votes claiming the same predecessor).
    """

    session = models.ForeignKey(CCBSession, on_delete=models.PROTECT, related_name="votes")
    member = models.ForeignKey(CCBMember, on_delete=models.PROTECT, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="ccb_votes")
    role = models.CharField(max_length=32, choices=ROLE_CHOICES)
    choice = models.CharField(max_length=12, choices=Choice.choices)
    comment = models.TextField(max_length=COMMENT_MAX)
    signature = models.OneToOneField("qms.Signature", on_delete=models.PROTECT, related_name="ccb_vote")
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    cast_at = models.DateTimeField()

    class Meta:
        ordering = ["cast_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "voter"], condition=Q(supersedes__isnull=True), name="ccb_vote_one_first_per_member"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.voter_id} {self.choice} on {self.session_id}"

    @property
    def role_label(self) -> str:
        return Role(self.role).label


class GateDecision(models.Model):
    """The result of one decision gate of a change (§14). Append-only; the latest per gate counts."""

    class Result(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    change = models.ForeignKey("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="gate_decisions")
    gate = models.CharField(max_length=16, choices=Gate.choices)
    result = models.CharField(max_length=8, choices=Result.choices)
    session = models.ForeignKey(
        CCBSession, null=True, blank=True, on_delete=models.PROTECT, related_name="gate_decisions"
    )
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=32, choices=ROLE_CHOICES)
    reason = models.TextField(max_length=COMMENT_MAX)
    decided_at = models.DateTimeField()
    retroactive = models.BooleanField(default=False)
    severity = models.CharField(max_length=32, blank=True, help_text="Gate 1: the severity assessed.")
    criteria = models.JSONField(default=list, blank=True, help_text="Gate 1: the §4 criteria met.")
    signature = models.OneToOneField("qms.Signature", on_delete=models.PROTECT, related_name="gate_decision")

    class Meta:
        ordering = ["-decided_at", "-pk"]
        indexes = [models.Index(fields=["change", "gate", "-decided_at"], name="gate_decision_change")]

    def __str__(self) -> str:
        return f"{self.change_id} {self.gate}: {self.result}"


class RegulatoryNotification(models.Model):
    """A notification to a certification authority (§7.3). Append-only."""

    class Authority(models.TextChoices):
        EASA = "EASA", "EASA"
        FAA = "FAA", "FAA"
        ESA = "ESA", "ESA"
        OTHER = "other", "Other authority"

    change = models.ForeignKey(
        "emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="regulatory_notifications"
    )
    authority = models.CharField(max_length=8, choices=Authority.choices)
    authority_name = models.CharField(max_length=200, blank=True, help_text="For another authority: its name.")
    notified_at = models.DateTimeField()
    reference = models.CharField(max_length=200, help_text="The authority's reference or your message id.")
    description = models.TextField(
        help_text="The issue and the proposed patch, as described to the authority.", max_length=TEXT_MAX
    )
    emergency_approval_requested = models.BooleanField(default=True)
    follow_up_commitment = models.TextField(help_text="The follow-up documentation committed to.", max_length=TEXT_MAX)
    follow_up_due = models.DateField(null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-notified_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.authority_label} {self.reference}"

    @property
    def authority_label(self) -> str:
        return self.authority_name if self.authority == self.Authority.OTHER else self.get_authority_display()


class StatusUpdate(models.Model):
    """A status update posted on a change (§12): it meets the update cadence. Append-only."""

    class Audience(models.TextChoices):
        INTERNAL = "internal", "Internal"
        EXTERNAL = "external", "External: customers and operators"

    change = models.ForeignKey("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="status_updates")
    audience = models.CharField(max_length=8, choices=Audience.choices, default=Audience.INTERNAL)
    change_status = models.CharField(max_length=24, help_text="The change's status when the update was posted.")
    current_status = models.TextField(max_length=TEXT_MAX)
    actions_taken = models.TextField(blank=True, max_length=TEXT_MAX)
    next_steps = models.TextField(blank=True, max_length=TEXT_MAX)
    posted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    posted_at = models.DateTimeField()

    class Meta:
        ordering = ["-posted_at", "-pk"]
        indexes = [models.Index(fields=["change", "-posted_at"], name="status_update_change")]

    def __str__(self) -> str:
        return f"update on {self.change_id} at {self.posted_at:%Y-%m-%d %H:%M}"
