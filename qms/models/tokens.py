"""API tokens (scoped, expiring, revocable) and the idempotency records of API writes."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from qms.models.users import User


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
