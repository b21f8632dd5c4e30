"""The GitHub side of a bypass: linked repositories, webhook deliveries, what the portal knows of pull requests
and their checks, the scope a bypass is granted for on GitHub, the calls the worker owes GitHub (an outbox),
findings, and the per-repository tokens of the deployment gate."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from qms.procedures import DEFAULT_PROCEDURE_CODE

REPOSITORY_NAME = RegexValidator(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", "Give the repository as owner/name.")
SHA = RegexValidator(r"^[0-9a-f]{40}$", "A commit SHA is 40 hexadecimal characters.")
FAILING = frozenset({"failure", "error", "timed_out", "action_required", "cancelled", "startup_failure"})


class GitHubRepository(models.Model):
    """A repository an administrator linked to the portal: which required checks the portal may answer for."""

    full_name = models.CharField(max_length=200, unique=True, validators=[REPOSITORY_NAME], help_text="owner/name")
    installation_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The GitHub App installation on this repository (unused with a token)."
    )
    required_checks = models.JSONField(
        default=dict,
        help_text='Required check name on GitHub → its check in the procedure, e.g. {"lint": "code_quality_minor"}.',
    )
    procedure_code = models.CharField(max_length=60, default=DEFAULT_PROCEDURE_CODE)
    default_branch = models.CharField(max_length=200, default="main")
    active = models.BooleanField(default=True)
    linked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    linked_at = models.DateTimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["full_name"]
        verbose_name = "GitHub repository"
        verbose_name_plural = "GitHub repositories"

    def __str__(self) -> str:
        return self.full_name

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


class GitHubDelivery(models.Model):
    """One webhook delivery, stored as received (signature verified) and processed on the worker."""

    delivery_id = models.CharField(max_length=64, unique=True)
    event = models.CharField(max_length=40)
    action = models.CharField(max_length=40, blank=True)
    repository = models.ForeignKey(GitHubRepository, null=True, on_delete=models.PROTECT, related_name="deliveries")
    payload = models.JSONField()
    received_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = "GitHub webhook delivery"
        verbose_name_plural = "GitHub webhook deliveries"
        indexes = [models.Index(fields=["processed_at", "received_at"], name="github_delivery_pending")]

    def __str__(self) -> str:
        return f"{self.event}.{self.action} {self.delivery_id}" if self.action else f"{self.event} {self.delivery_id}"


class GitHubPullRequest(models.Model):
    """What the webhooks told the portal about a pull request."""

    repository = models.ForeignKey(GitHubRepository, on_delete=models.PROTECT, related_name="pulls")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=300, blank=True)
    html_url = models.URLField(max_length=500, blank=True)
    author = models.CharField(max_length=100, blank=True)
    head_sha = models.CharField(max_length=40, validators=[SHA])
    state = models.CharField(max_length=10, default="open")
    merged_at = models.DateTimeField(null=True, blank=True)
    merge_sha = models.CharField(max_length=40, blank=True)
    merged_by = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["repository", "-number"]
        constraints = [models.UniqueConstraint(fields=["repository", "number"], name="github_pull_once")]

    def __str__(self) -> str:
        return f"{self.repository.full_name}#{self.number}"


class GitHubCommitCheck(models.Model):
    """The latest conclusion of one check (check run, check suite or commit status) on one commit."""

    repository = models.ForeignKey(GitHubRepository, on_delete=models.PROTECT, related_name="commit_checks")
    sha = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    conclusion = models.CharField(max_length=20)
    source = models.CharField(max_length=20)
    details_url = models.URLField(max_length=500, blank=True)
    on_default_branch = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["repository", "sha", "name"]
        constraints = [models.UniqueConstraint(fields=["repository", "sha", "name"], name="github_check_once")]

    def __str__(self) -> str:
        return f"{self.name} {self.conclusion} on {self.sha[:7]}"

    @property
    def failed(self) -> bool:
        return self.conclusion in FAILING


class GitHubBypassScope(models.Model):
    """What a bypass is granted for on GitHub: one repository, one pull request, one head SHA, listed checks."""

    bypass = models.OneToOneField("emergencies.BypassRequest", on_delete=models.PROTECT, related_name="github_scope")
    repository = models.ForeignKey(GitHubRepository, on_delete=models.PROTECT, related_name="scopes")
    pull = models.ForeignKey(GitHubPullRequest, on_delete=models.PROTECT, related_name="scopes")
    head_sha = models.CharField(max_length=40, validators=[SHA])
    checks = models.JSONField(default=list, help_text="The GitHub check names the bypass answers for.")
    granted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    superseded_by_sha = models.CharField(max_length=40, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    merge_sha = models.CharField(max_length=40, blank=True)
    merged_by = models.CharField(max_length=100, blank=True)
    merged_at = models.DateTimeField(null=True, blank=True)
    revert_sha = models.CharField(max_length=40, blank=True)
    reverted_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["repository", "head_sha"], name="github_scope_sha")]

    def __str__(self) -> str:
        return f"{self.bypass_id} on {self.repository_id}#{self.pull_id} @ {self.head_sha[:7]}"

    @property
    def needs_reapproval(self) -> bool:
        return bool(self.superseded_by_sha) and not self.merged_at


class GitHubFinding(models.Model):
    """Something seen on GitHub that the procedure forbids: a merge whose required checks failed with no bypass."""

    class Kind(models.TextChoices):
        UNAUTHORISED_MERGE = "unauthorised_merge", "Unauthorised bypass: merged with failing required checks"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    repository = models.ForeignKey(GitHubRepository, on_delete=models.PROTECT, related_name="findings")
    pull = models.ForeignKey(GitHubPullRequest, null=True, on_delete=models.PROTECT, related_name="findings")
    head_sha = models.CharField(max_length=40)
    merge_sha = models.CharField(max_length=40, blank=True)
    merged_by = models.CharField(max_length=100, blank=True)
    failing_checks = models.JSONField(default=list)
    detected_at = models.DateTimeField()
    delivery = models.ForeignKey(GitHubDelivery, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-detected_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "repository", "head_sha"], name="github_finding_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.repository_id}@{self.head_sha[:7]}"


class GitHubCall(models.Model):
    """A call the portal owes GitHub. Written in the transaction that decides it, made by the worker, retried
    with backoff until GitHub accepts it; ``key`` makes the same decision one call however often it runs."""

    class Kind(models.TextChoices):
        STATUS = "status", "Commit status"
        LABEL = "label", "Pull-request label"
        ISSUE = "issue", "Tracking issue"

    class State(models.TextChoices):
        PENDING = "pending", "Not yet on GitHub"
        DELIVERED = "delivered", "On GitHub"
        FAILED = "failed", "Refused by GitHub"

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    repository = models.ForeignKey(GitHubRepository, on_delete=models.PROTECT, related_name="calls")
    bypass = models.ForeignKey(
        "emergencies.BypassRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="github_calls"
    )
    params = models.JSONField(help_text="Path parameters and body of the call.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = "GitHub call"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key} ({self.get_state_display()})"


class DeploymentGateToken(models.Model):
    """A CI token of one repository. It can ask the deployment gate about that repository and nothing else."""

    repository = models.ForeignKey(GitHubRepository, on_delete=models.PROTECT, related_name="gate_tokens")
    label = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["repository", "-created_at"]

    def __str__(self) -> str:
        return f"{self.repository} gate token {self.prefix}… ({self.label})"
