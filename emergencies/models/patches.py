"""The emergency patch package of CM-WF-EMERGENCY (§8.2, §9.2, §10, §11.2).

A package holds the patch files with their SHA-256, the installation, verification and rollback
procedures and the emergency release notice. A configuration manager or release manager approves it
by electronic signature, which freezes the approved hashes; it is then distributed to the affected units
(serial numbers), each of which acknowledges receipt, installs, reports the hash it runs and is verified.
Hash verification is never waived (§15): a package with an unverified hash cannot be approved, and a
unit that reports anything but the approved hash blocks the change's closure.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django_fsm import FSMField, FSMModelMixin, transition
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX, TEXT_MAX

SHA256_VALIDATOR = RegexValidator(r"^[0-9a-f]{64}$", "A SHA-256 is 64 hexadecimal characters.")

# §11.2: mandatory within 30 days of the emergency deployment.
FOLLOW_UP_ITEMS: tuple[tuple[str, str], ...] = (
    ("compliance_evidence", "Full compliance evidence"),
    ("test_results", "Complete test results (including regression)"),
    ("sbom", "Updated SBOM"),
    ("provenance", "Provenance attestations"),
    ("ccb_approval", "Formal CCB approval (retroactive if needed)"),
    ("certification_approval", "Certification authority approval documentation"),
    ("release_notes", "Release notes (comprehensive)"),
    ("release_register", "Release register updated"),
)
FOLLOW_UP_LABELS = dict(FOLLOW_UP_ITEMS)
FOLLOW_UP_DAYS = 30


def normalise_sha256(value: str) -> str:
    """What people paste: upper case, a ``sha256:`` prefix, spaces or colons between bytes."""
    value = (value or "").strip().lower()
    value = value.removeprefix("sha256:").removeprefix("sha256=")
    return re.sub(r"[\s:]", "", value)


def patch_package_required(change) -> bool:
    """Whether the change's procedure asks for a patch package (only CM-WF-EMERGENCY among the presets)."""
    return bool(change.rules.definition.get("patch_package", False))


def _upload_to(artifact: PatchArtifact, filename: str) -> str:
    return f"patches/{artifact.package.identifier}/{filename}"


class PatchPackage(FSMModelMixin, models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        APPROVED = "approved", "Approved"
        DISTRIBUTED = "distributed", "Distributed"
        WITHDRAWN = "withdrawn", "Withdrawn"

    # The texts the approval signature covers, with the ones approval requires.
    TEXT_FIELDS = (
        "summary",
        "installation_procedure",
        "verification_procedure",
        "rollback_procedure",
        "rollback_verification",
        "rollback_criteria",
        "release_notice",
    )
    REQUIRED_FOR_APPROVAL = (
        "installation_procedure",
        "verification_procedure",
        "rollback_procedure",
        "release_notice",
    )

    identifier = models.CharField(max_length=60, unique=True)
    change = models.ForeignKey("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="patch_packages")
    version = models.PositiveIntegerField()
    status = FSMField(max_length=12, choices=Status.choices, default=Status.DRAFT, protected=True, db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()

    summary = models.TextField(
        blank=True, help_text="What the patch changes, and nothing else (§8.1).", max_length=TEXT_MAX
    )
    installation_procedure = models.TextField(
        blank=True, help_text="Step-by-step installation instructions.", max_length=TEXT_MAX
    )
    verification_procedure = models.TextField(
        blank=True, help_text="How to verify the unit after installing.", max_length=TEXT_MAX
    )
    rollback_procedure = models.TextField(blank=True, help_text="Detailed rollback steps (§9.2).", max_length=TEXT_MAX)
    rollback_verification = models.TextField(
        blank=True, help_text="The rollback verification test (§9.2).", max_length=TEXT_MAX
    )
    rollback_criteria = models.TextField(
        blank=True, help_text="Decision criteria for rolling back (§9.2).", max_length=TEXT_MAX
    )
    release_notice = models.TextField("emergency release notice", blank=True, max_length=TEXT_MAX)

    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_hashes = models.JSONField(
        default=list, blank=True, help_text="The artifacts as approved: filename, kind, size and SHA-256."
    )
    approval_signature = models.ForeignKey(
        "qms.Signature", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    distributed_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawal_reason = models.TextField(blank=True, max_length=COMMENT_MAX)
    configuration_audited_at = models.DateTimeField(null=True, blank=True)
    configuration_audited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    configuration_audit = models.JSONField(
        default=list, blank=True, help_text="The last configuration audit: per unit, reported and approved hash."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["change", "-version"]
        constraints = [models.UniqueConstraint(fields=["change", "version"], name="patch_package_version_unique")]

    def __str__(self) -> str:
        return self.identifier

    def get_absolute_url(self) -> str:
        return reverse(
            "emergencies:patch-version", kwargs={"identifier": self.change.identifier, "version": self.version}
        )

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def is_released(self) -> bool:
        """Approved, and so sendable to units."""
        return self.status in (self.Status.APPROVED, self.Status.DISTRIBUTED)

    @property
    def configuration_audit_ok(self) -> bool | None:
        if self.configuration_audited_at is None:
            return None
        return bool(self.configuration_audit) and all(row.get("ok") for row in self.configuration_audit)

    def approved_entry(self, filename: str) -> dict | None:
        return next((a for a in self.approved_hashes if a["filename"] == filename), None)

    def approved_patch_hashes(self) -> list[dict]:
        return [a for a in self.approved_hashes if a["kind"] == PatchArtifact.Kind.PATCH]

    def signable_content(self, artifacts) -> dict:
        """What the approval signature covers: the package's texts and every artifact with its hash."""
        content = {name: getattr(self, name) for name in ("identifier", "change_id", "version", *self.TEXT_FIELDS)}
        content["artifacts"] = artifact_manifest(artifacts)
        return content

    # --- transitions: they only set fields -----------------------------------------------------------

    @transition(field=status, source=Status.DRAFT, target=Status.APPROVED)
    def approve(self, *, by, at, signature, manifest, **kwargs) -> None:
        self.approved_by, self.approved_at = by, at
        self.approval_signature, self.approved_hashes = signature, manifest

    @transition(field=status, source=Status.APPROVED, target=Status.DISTRIBUTED)
    def distribute(self, *, at, **kwargs) -> None:
        self.distributed_at = at

    @transition(field=status, source=[Status.DRAFT, Status.APPROVED, Status.DISTRIBUTED], target=Status.WITHDRAWN)
    def withdraw(self, *, at, reason, **kwargs) -> None:
        self.withdrawn_at, self.withdrawal_reason = at, reason


def artifact_manifest(artifacts) -> list[dict]:
    return [
        {"filename": a.filename, "kind": a.kind, "size": a.size, "sha256": a.sha256}
        for a in sorted(artifacts, key=lambda a: a.filename)
    ]


class PatchArtifact(models.Model):
    """One file of a package and its SHA-256.

    The hash is either computed by the portal from the uploaded file (verified at once) or entered by
    hand for a file kept elsewhere (a binary repository, physical media). An entered hash counts only
    once verified: by uploading the file later (the portal computes the hash and compares), or by a
    second person who re-enters the hash from their own source without seeing the first one.
    """

    class Kind(models.TextChoices):
        PATCH = "patch", "Patch file (installed on the units)"
        PREVIOUS = "previous_version", "Previous version (for rollback)"
        DOCUMENT = "document", "Supporting document"

    class Source(models.TextChoices):
        COMPUTED = "computed", "Computed from the uploaded file"
        ENTERED = "entered", "Entered"

    class Verification(models.TextChoices):
        COMPUTED = "computed", "Computed by the portal from the upload"
        UPLOAD_MATCHED = "upload_matched", "File uploaded later, hash matched"
        SECOND_ENTRY = "second_entry", "Re-entered by a second person, matched"

    package = models.ForeignKey(PatchPackage, on_delete=models.PROTECT, related_name="artifacts")
    filename = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PATCH)
    size = models.PositiveBigIntegerField(null=True, blank=True, help_text="Bytes.")
    sha256 = models.CharField("SHA-256", max_length=64, validators=[SHA256_VALIDATOR])
    file = models.FileField(upload_to=_upload_to, max_length=400, blank=True)
    location = models.CharField(max_length=500, blank=True, help_text="Where the file is kept, when not uploaded.")
    hash_source = models.CharField(max_length=10, choices=Source.choices)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField()
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_method = models.CharField(max_length=16, choices=Verification.choices, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["package", "kind", "filename"]
        constraints = [
            models.UniqueConstraint(fields=["package", "filename"], name="patch_artifact_filename_unique"),
            models.CheckConstraint(
                condition=models.Q(verified_at__isnull=True) | ~models.Q(verification_method=""),
                name="patch_artifact_verified_has_method",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.sha256[:12]}…)"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


class UnitDistribution(models.Model):
    """The package's journey to one affected unit (§10.2-10.4)."""

    class InstallStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        INSTALLED = "installed", "Installed"
        FAILED = "failed", "Installation failed"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class Channel(models.TextChoices):
        SECURE_DELIVERY = "secure_delivery", "Direct secure delivery to operators"
        ENCRYPTED_LINK = "encrypted_link", "Encrypted download link"
        PHYSICAL_MEDIA = "physical_media", "Physical media"

    package = models.ForeignKey(PatchPackage, on_delete=models.PROTECT, related_name="units")
    serial_number = models.CharField(max_length=100)
    description = models.CharField(max_length=200, blank=True)
    listed_on_incident = models.BooleanField(default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=200, blank=True, help_text="Who acknowledged receipt at the unit.")
    install_status = models.CharField(
        max_length=12, choices=InstallStatus.choices, default=InstallStatus.PENDING, db_index=True
    )
    installed_at = models.DateTimeField(null=True, blank=True)
    installed_artifact = models.ForeignKey(
        PatchArtifact, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reported_hash = models.CharField(
        max_length=64, blank=True, validators=[SHA256_VALIDATOR], help_text="What the unit reports as deployed."
    )
    post_install_verified = models.BooleanField(default=False)
    verification_notes = models.TextField(blank=True, max_length=COMMENT_MAX)
    verified_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["package", "serial_number"]
        constraints = [
            models.UniqueConstraint(fields=["package", "serial_number"], name="unit_distribution_serial_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.serial_number} ({self.package_id})"

    def expected_hash(self, package: PatchPackage | None = None) -> str:
        """The approved hash this unit must report: that of the patch file it installed, or of the only one."""
        package = package or self.package
        if self.installed_artifact_id is not None:
            entry = package.approved_entry(self.installed_artifact.filename)
            return entry["sha256"] if entry else ""
        patches = package.approved_patch_hashes()
        return patches[0]["sha256"] if len(patches) == 1 else ""

    def hash_matches(self, package: PatchPackage | None = None) -> bool | None:
        if not self.reported_hash:
            return None
        expected = self.expected_hash(package)
        return bool(expected) and self.reported_hash == expected


class UnitEvent(models.Model):
    """The append-only log of one unit: what happened, when, who recorded it."""

    class Kind(models.TextChoices):
        SENT = "sent", "Sent"
        ACKNOWLEDGED = "acknowledged", "Receipt acknowledged"
        INSTALLED = "installed", "Installed"
        INSTALL_FAILED = "install_failed", "Installation failed"
        VERIFIED = "verified", "Post-install verification passed"
        VERIFICATION_FAILED = "verification_failed", "Post-install verification failed"
        ROLLED_BACK = "rolled_back", "Rolled back"

    distribution = models.ForeignKey(UnitDistribution, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField(help_text="When it happened at the unit.")
    recorded_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=20, choices=UnitDistribution.Channel.choices, blank=True)
    reported_hash = models.CharField(max_length=64, blank=True, validators=[SHA256_VALIDATOR])
    detail = models.TextField(blank=True, max_length=COMMENT_MAX)

    class Meta:
        ordering = ["distribution", "occurred_at", "pk"]
        indexes = [models.Index(fields=["distribution", "occurred_at"], name="unit_event_distribution")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.occurred_at:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("Unit events are append-only; record a new event instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Unit events are append-only.")


class FollowUpDocument(models.Model):
    """One §11.2 follow-up document, completed with its evidence. Written once, never edited."""

    change = models.ForeignKey("emergencies.ChangeRecord", on_delete=models.PROTECT, related_name="follow_up_documents")
    key = models.CharField(max_length=32, choices=FOLLOW_UP_ITEMS)
    evidence = models.TextField(help_text="What was produced, and where it is.", max_length=TEXT_MAX)
    reference = models.CharField(max_length=300, blank=True, help_text="Document number or link.")
    completed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField()

    class Meta:
        ordering = ["change", "completed_at"]
        constraints = [models.UniqueConstraint(fields=["change", "key"], name="follow_up_document_unique")]

    def __str__(self) -> str:
        return f"{self.get_key_display()} ({self.change_id})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("A completed follow-up document is not edited.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("A completed follow-up document is not deleted.")
