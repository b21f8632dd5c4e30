"""What the signing forms need to know under single sign-on (a template context processor)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from qms.services.signatures import SSO_PROOF_PREFIX
from qms.sso.config import sso_enabled
from qms.sso.models import SSOIdentity
from qms.sso.proofs import proof_pending
from qms.sso.reauth import PROOF_KEY


def sso(request) -> dict:
    if not sso_enabled():
        return {"sso_enabled": False}
    context = {"sso_enabled": True, "sso_provider_name": settings.OIDC_PROVIDER_NAME, "sso_signing": None}
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not SSOIdentity.objects.filter(user=user).exists():
        return context
    signing = {"reauth_url": f"{reverse('sso-reauth')}?{urlencode({'next': request.path})}", "proof": ""}
    stored = request.session.get(PROOF_KEY) or {}
    proof = proof_pending(user=user, secret=stored.get("secret", ""), page=request.path)
    if proof is not None:
        signing.update(proof=SSO_PROOF_PREFIX + stored["secret"], expires_at=proof.expires_at)
    context["sso_signing"] = signing
    return context
