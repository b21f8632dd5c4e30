from __future__ import annotations

import re
import zoneinfo
from functools import cached_property

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from qms.limits import COMMENT_MAX
from qms.roles import GROUP_TO_ROLE, Role

TIME_ZONE_CHOICES = [(name, name) for name in sorted(zoneinfo.available_timezones()) if "/" in name or name == "UTC"]


class User(AbstractUser):
    """A person using the portal. Users are deactivated, never deleted (their signatures stay theirs)."""

    time_zone = models.CharField(max_length=64, default="UTC", choices=TIME_ZONE_CHOICES)
    # Where this person's notifications go (preferences): email, and/or a Slack direct message.
    notify_by_email = models.BooleanField("by email", default=True)
    notify_by_slack = models.BooleanField("by Slack direct message", default=False)
    slack_user_id = models.CharField(
        "Slack member id", max_length=32, blank=True, validators=[RegexValidator(r"^[UW][A-Z0-9]{2,30}$")]
    )
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.get_full_name() or self.username

    @cached_property
    def roles(self) -> frozenset[Role]:
        # Uses prefetched groups when the selector prefetched them.
        return frozenset(GROUP_TO_ROLE[g.name] for g in self.groups.all() if g.name in GROUP_TO_ROLE)

    def has_role(self, *roles: Role) -> bool:
        return self.is_active and bool(self.roles.intersection(roles))


class Procedure(models.Model):
    """A procedure document the portal implements; its rules live in versioned definitions."""

    code = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    source_document = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.title


class ProcedureVersion(models.Model):
    """One immutable version of a procedure's rules. Editing a procedure creates a new version."""

    procedure = models.ForeignKey(Procedure, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    effective_from = models.DateTimeField()
    effective_until = models.DateTimeField(null=True, blank=True)
    # Set when a scheduled version is cancelled before its date: it is kept but never in force.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    definition = models.JSONField()
    change_note = models.TextField(blank=True, max_length=COMMENT_MAX)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    history = HistoricalRecords()

    class Meta:
        ordering = ["procedure__code", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "version"], name="procedure_version_unique"),
            models.CheckConstraint(
                condition=Q(effective_until__isnull=True) | Q(effective_until__gt=models.F("effective_from")),
                name="procedure_version_effective_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.procedure.code} v{self.version}"

    @cached_property
    def rules(self):
        from qms.procedures import ProcedureRules

        return ProcedureRules(self.definition)


class Notification(models.Model):
    """An outbox row: written in the transaction that caused it, delivered by the worker exactly once.

    A broker that is down when the row is written loses nothing: the beat job re-sends pending rows.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack"
        TEAMS = "teams", "Microsoft Teams"
        WEBHOOK = "webhook", "Outgoing webhook"

    # A person's message names them; a message to a channel (a Slack channel, a Teams webhook, an outgoing
    # webhook, an external mailbox) names the channel and its destination instead.
    recipient = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="notifications")
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    target = models.ForeignKey(
        "qms.NotificationChannel", null=True, blank=True, on_delete=models.PROTECT, related_name="messages"
    )
    destination = models.CharField(max_length=500, blank=True, help_text="Slack id, email address or URL.")
    dedupe_key = models.CharField(max_length=200, unique=True)
    subject = models.CharField(max_length=250)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    link = models.CharField(max_length=500, blank=True)
    attachment_name = models.CharField(max_length=200, blank=True)
    attachment_content = models.TextField(blank=True)
    attachment_mimetype = models.CharField(max_length=100, blank=True)
    # A message queued in bulk (the escalation digests) is rendered by the worker at delivery: ``template``
    # names emails/<template>{.txt,.html} and ``context`` is its JSON context. ``body`` is empty until then.
    template = models.CharField(max_length=64, blank=True)
    context = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # After a failed attempt the next one waits (exponential backoff); the beat job retries due rows.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["html_body", "attachment_content", "context"])

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at"], condition=Q(sent_at__isnull=True), name="notification_pending")]

    def __str__(self) -> str:
        return f"{self.subject} → {self.recipient or self.destination}"

    @property
    def failing(self) -> bool:
        return self.sent_at is None and bool(self.last_error)


class NotificationChannel(models.Model):
    """A shared place the portal posts to: a Slack channel, a Teams channel's incoming webhook (or Workflows
    URL), an outgoing webhook, or a mailbox (an internal list, external contacts). Configured per procedure
    and per event kind; its audience decides which fields of a record its messages carry (the procedure's
    ``channels`` block)."""

    class Kind(models.TextChoices):
        SLACK = "slack", "Slack channel"
        TEAMS = "teams", "Microsoft Teams webhook"
        WEBHOOK = "webhook", "Outgoing webhook (JSON, HMAC-signed)"
        EMAIL = "email", "Mailbox (email address)"

    class Audience(models.TextChoices):
        PUBLIC = "public", "Public: anyone in the company may read it"
        RESPONDERS = "responders", "Responders: restricted to the people working the emergency"
        EXTERNAL = "external", "External: customers, operators"

    class Event(models.TextChoices):
        FILED = "filed", "Emergency filed"
        AWAITING_SIGNATURE = "awaiting_signature", "Awaiting a signature"
        AUTHORISED = "authorised", "Authorised"
        CCB_CONVENED = "ccb_convened", "CCB convened"
        CCB_DECIDED = "ccb_decided", "CCB decided"
        OVERDUE = "overdue", "Overdue and escalated"
        REPORT_READY = "report_ready", "Report ready"
        STATUS_UPDATE = "status_update", "Status update"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    destination = models.CharField(max_length=500, help_text="Slack channel id (C…), webhook URL, or email address.")
    secret = models.CharField(max_length=200, blank=True, help_text="Outgoing webhooks: the HMAC-SHA256 key.")
    audience = models.CharField(max_length=12, choices=Audience.choices, default=Audience.PUBLIC)
    procedure = models.ForeignKey(
        Procedure, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: every one."
    )
    events = models.JSONField(default=list, help_text='Event kinds posted here, e.g. ["filed", "authorised"].')
    active = models.BooleanField(default=True)
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError
        from django.core.validators import EmailValidator, URLValidator

        errors: dict[str, list[str]] = {}
        if not isinstance(self.events, list) or not set(self.events) <= set(self.Event.values):
            errors["events"] = [f"A list of event kinds among: {', '.join(self.Event.values)}."]
        try:
            if self.kind in (self.Kind.TEAMS, self.Kind.WEBHOOK):
                URLValidator(schemes=["https", "http"])(self.destination)
            elif self.kind == self.Kind.EMAIL:
                EmailValidator()(self.destination)
            elif self.kind == self.Kind.SLACK and not re.fullmatch(
                r"[CGD][A-Z0-9]{2,30}|#[a-z0-9_-]{1,80}", self.destination
            ):
                errors["destination"] = ["A Slack channel id (C0123ABC) or #name."]
        except ValidationError as exc:
            errors["destination"] = exc.messages
        if self.kind == self.Kind.WEBHOOK and len(self.secret) < 16:
            errors["secret"] = ["An outgoing webhook needs an HMAC key of at least 16 characters."]
        if self.audience == self.Audience.EXTERNAL and self.kind != self.Kind.EMAIL:
            errors["audience"] = ["External contacts are reached by email."]
        if errors:
            raise ValidationError(errors)


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


class ApiToken(models.Model):
    """A named, scoped API token of one user. Only a hash of its secret is kept; the secret is shown once.

    ``second_factor_verified`` is true only for a token created from a session that passed the second
    factor; signing code asks it (``request.auth``) when the second factor is required for signers."""

    class Scope(models.TextChoices):
        READ = "read", "Read every record you may see"
        FILE_STUBS = "file_stubs", "File emergency stubs and bypass requests"
        SIGN = "sign", "Sign: approve, reject, vote and decide (the password is still asked)"
        INTEGRATIONS = "integrations", "Integrations: every other write (transitions, checklists, updates…)"

    class CreatedVia(models.TextChoices):
        SESSION = "session", "Preferences page"
        PASSWORD = "password", "Username and password (/api/v1/auth/token/)"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    created_via = models.CharField(max_length=16, choices=CreatedVia.choices, default=CreatedVia.SESSION)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    second_factor_verified = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"API token #{self.pk} “{self.name}” of {self.user_id}"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def scope_labels(self) -> list[str]:
        return [str(self.Scope(s).label) for s in self.scopes if s in self.Scope.values]


class IdempotencyRecord(models.Model):
    """The first answer to a POST sent with an ``Idempotency-Key``, replayed to its retries (qms.api)."""

    principal = models.CharField(max_length=40)  # "token:<id>" or "user:<id>"
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    headers = models.JSONField(default=dict, blank=True)
    body = models.BinaryField(default=b"", blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="idempotency_principal_key")]

    def __str__(self) -> str:
        return f"{self.principal} {self.key}"
