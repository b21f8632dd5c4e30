"""A hand-off: a step of the lifecycle that needs someone else, asked of a named person or of a role.

One model for every such step (second-engineer review, post-mortem approval, gate validation, confirmation
of a verbal approval, CCB vote, patch approval, unit acknowledgement). The request names the record the
step is taken on (``subject``) and the change it belongs to; it is closed when the step is done (the
lifecycle's own signals say so) or withdrawn by whoever asked.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX
from qms.roles import ROLE_LABELS, Role


class HandoffRequest(models.Model):
    class Kind(models.TextChoices):
        HOTFIX_REVIEW = "hotfix_review", "Second-engineer review of the hotfix"
        POST_MORTEM_APPROVAL = "post_mortem_approval", "Review and approval of the post-mortem"
        GATE_VALIDATION = "gate_validation", "Retroactive validation of the bypassed gates"
        VERBAL_CONFIRMATION = "verbal_confirmation", "Confirmation of a verbal approval"
        CCB_VOTE = "ccb_vote", "CCB vote"
        PATCH_APPROVAL = "patch_approval", "Approval of the patch package"
        UNIT_ACKNOWLEDGEMENT = "unit_acknowledgement", "Acknowledgement of receipt by the units"

    class Status(models.TextChoices):
        OPEN = "open", "Waiting"
        DONE = "done", "Done"
        WITHDRAWN = "withdrawn", "Withdrawn"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    change = models.ForeignKey(
        "emergencies.ChangeRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="handoff_requests"
    )
    subject_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.PROTECT, related_name="+")
    subject_id = models.PositiveBigIntegerField()
    subject_label = models.CharField(max_length=100)
    link = models.CharField(max_length=300, help_text="Where the asked person takes the step.")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="handoffs_waiting"
    )
    role = models.CharField(max_length=32, blank=True, choices=[(r.value, ROLE_LABELS[r]) for r in Role])
    note = models.TextField(max_length=COMMENT_MAX, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    close_note = models.CharField(max_length=300, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["requested_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(assignee=None) | ~Q(role=""), name="handoff_asks_someone"),
            models.CheckConstraint(
                condition=Q(status="open", closed_at=None) | (~Q(status="open") & ~Q(closed_at=None)),
                name="handoff_closed_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(fields=["assignee", "requested_at"], condition=Q(status="open"), name="handoff_open_assignee"),
            models.Index(fields=["role", "requested_at"], condition=Q(status="open"), name="handoff_open_role"),
            models.Index(fields=["subject_type", "subject_id", "status"], name="handoff_subject"),
        ]
        verbose_name = "hand-off request"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.subject_label} for {self.asked_of}"

    def get_absolute_url(self) -> str:
        return self.link

    @property
    def asked_of(self) -> str:
        """Who is asked: the person's name, or "any <role>"."""
        if self.assignee_id:
            return self.assignee.display_name
        return f"any {ROLE_LABELS[Role(self.role)].lower()}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN
