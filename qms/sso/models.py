"""Who a user is at the identity provider, and the one-time proofs of a re-authentication there."""

from django.conf import settings
from django.db import models


class SSOIdentity(models.Model):
    """The provider's subject (``iss`` + ``sub``) of one portal user, created at their first sign-in."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sso_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sso_identity_unique_subject")]
        verbose_name = "single sign-on identity"
        verbose_name_plural = "single sign-on identities"

    def __str__(self) -> str:
        return f"{self.user} at {self.issuer}"


class ReauthProof(models.Model):
    """A re-authentication at the provider, returned fresh and for the right subject: it may sign once, for
    its user, on the page it was asked from, until ``expires_at``. Only a hash of its secret is kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sso_reauth_proofs")
    secret_hash = models.CharField(max_length=64, unique=True)
    intent = models.CharField(max_length=500, help_text="The page the signature is given on.")
    subject = models.CharField(max_length=255)
    auth_time = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # The provider said the authentication used a second factor (``amr``/``acr``, qms.sso.config).
    second_factor = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["user", "expires_at"], name="sso_proof_user_expiry")]

    def __str__(self) -> str:
        return f"re-authentication of {self.user} at {self.auth_time:%Y-%m-%d %H:%M:%S}"
