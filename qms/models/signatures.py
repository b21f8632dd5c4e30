"""Electronic signatures (and recorded verbal or written approvals), and each signer's lock state."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX
from qms.models.users import User
from qms.roles import Role


class Signature(models.Model):
    """An electronic signature (21 CFR Part 11 style). Never edited, never deleted.

    It records who signed, in which role, what it means, when (UTC) and a SHA-256 of the exact record
    content signed, so a later edit of the record shows the signature as no longer matching. A changed
    mind is a new signature. A verbal or written approval recorded by someone else is a signature with
    ``method`` verbal/written and ``recorded_by`` set; it stays unconfirmed until the signer confirms it
    with a signature of their own (``confirms``).
    """

    class Meaning(models.TextChoices):
        AUTHORED = "authored", "Authored"
        REVIEWED = "reviewed", "Reviewed"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CONFIRMED = "confirmed", "Confirmed verbal approval"

    class Method(models.TextChoices):
        E_SIGNATURE = "e_signature", "Electronic signature"
        SSO_REAUTH = "sso_reauth", "Electronic signature, re-authenticated at the identity provider"
        VERBAL = "verbal", "Verbal approval, recorded"
        WRITTEN = "written", "Written approval, recorded"

    subject_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.PROTECT)
    subject_id = models.PositiveBigIntegerField()
    subject_label = models.CharField(max_length=100)
    signer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="signatures")
    signer_name = models.CharField(max_length=200)
    role = models.CharField(max_length=32)
    meaning = models.CharField(max_length=16, choices=Meaning.choices)
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.E_SIGNATURE)
    recorded_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(help_text="When the approval was given (for verbal: when it was said).")
    signed_at = models.DateTimeField(default=timezone.now)
    comment = models.TextField(blank=True, max_length=COMMENT_MAX)
    content_hash = models.CharField(max_length=64)
    confirms = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="confirmation"
    )
    # A delegate's signature names whom they signed for (qms.training.Delegation); both names are kept.
    on_behalf_of = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    on_behalf_of_name = models.CharField(max_length=200, blank=True)
    # A signature given without the role's valid certification, where the procedure allows it in an emergency.
    training_deviation = models.TextField(blank=True, max_length=COMMENT_MAX)

    class Meta:
        ordering = ["signed_at", "pk"]
        indexes = [models.Index(fields=["subject_type", "subject_id", "signed_at"], name="signature_subject")]
        constraints = [
            models.CheckConstraint(
                condition=Q(method__in=["e_signature", "sso_reauth"], recorded_by__isnull=True)
                | (Q(method__in=["verbal", "written"]) & Q(recorded_by__isnull=False)),
                name="signature_recorded_by_matches_method",
            ),
        ]

    def __str__(self) -> str:
        behalf = f" on behalf of {self.on_behalf_of_name}" if self.on_behalf_of_name else ""
        return f"{self.signer_name}{behalf} ({self.role}) {self.meaning} {self.subject_label}"

    @property
    def signer_names(self) -> str:
        """Who signed, as shown on pages and in exports: "A on behalf of B" for a delegate's signature."""
        if self.on_behalf_of_name:
            return f"{self.signer_name} on behalf of {self.on_behalf_of_name}"
        return self.signer_name

    @property
    def role_label(self) -> str:
        try:
            return Role(self.role).label
        except ValueError:
            return self.role

    @property
    def needs_confirmation(self) -> bool:
        return self.method in (self.Method.VERBAL, self.Method.WRITTEN)


class SignerState(models.Model):
    """Failed signing attempts of one user; five in a row lock their signing until a security officer
    unlocks it."""

    user = models.OneToOneField(User, on_delete=models.PROTECT, related_name="signer_state")
    consecutive_failures = models.PositiveSmallIntegerField(default=0)
    locked_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"signing state of {self.user}"
