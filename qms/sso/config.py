"""The settings of single sign-on (``qms/settings.py``, from the environment; README "Single sign-on").

- ``OIDC_ENABLED``: off by default; local passwords stay either way (small installs, break-glass admins).
- ``QMS_OIDC_GROUPS_CLAIM``: the claim (ID token or userinfo) that lists the user's groups.
- ``QMS_OIDC_ROLE_MAP``: provider group → portal role (a role's short name, e.g. ``lead``). Without a
  map, a group named like a role's short name or label is that role.
- ``QMS_SSO_REAUTH_MAX_AGE``: seconds an authentication at the provider stays fresh enough to sign.
- ``QMS_SSO_SECOND_FACTOR_AMR``: ``amr`` values (RFC 8176) that name a second factor; a re-authentication
  whose ID token lists one counts as a second factor for ``QMS_REQUIRE_TOTP_FOR_SIGNERS``.
- ``QMS_SSO_SECOND_FACTOR_ACR``: ``acr`` values that count as a second factor too (e.g. a provider's
  multi-factor level); the re-authentication asks the provider for them (``acr_values``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from qms.roles import ROLE_LABELS, Role


def sso_enabled() -> bool:
    return bool(getattr(settings, "OIDC_ENABLED", False))


def parse_role_map(text: str) -> dict[str, Role]:
    """``group=role`` pairs separated by commas or new lines; an unknown role is a configuration error."""
    mapping: dict[str, Role] = {}
    for item in text.replace("\n", ",").split(","):
        if not item.strip():
            continue
        group, sep, role = item.rpartition("=")
        if not sep or not group.strip():
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP: {item.strip()!r} is not group=role")
        try:
            mapping[group.strip()] = Role(role.strip())
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP: {role.strip()!r} is not a role ({known})") from None
    return mapping


def role_map() -> dict[str, Role]:
    configured = getattr(settings, "QMS_OIDC_ROLE_MAP", None)
    if configured:
        return dict(configured)
    return {**{r.value: r for r in Role}, **{label: r for r, label in ROLE_LABELS.items()}}


def roles_from_claims(claims: dict) -> tuple[list[str], frozenset[Role]]:
    """The group claim's values and the portal roles they map to (unmapped groups are ignored)."""
    value = claims.get(settings.QMS_OIDC_GROUPS_CLAIM, [])
    if isinstance(value, str):
        value = [value]
    groups = [str(g)[:200] for g in value if isinstance(g, str | int)][:500] if isinstance(value, list) else []
    mapping = role_map()
    return groups, frozenset(mapping[g] for g in groups if g in mapping)


def reauth_max_age() -> int:
    return int(settings.QMS_SSO_REAUTH_MAX_AGE)


def reauth_second_factor(claims: dict) -> bool:
    """Whether an ID token says the authentication used a second factor: an ``amr`` value naming one, or an
    ``acr`` among the configured levels."""
    amr = claims.get("amr")
    amr = [amr] if isinstance(amr, str) else amr if isinstance(amr, list) else []
    wanted_amr = set(getattr(settings, "QMS_SSO_SECOND_FACTOR_AMR", ()))
    if any(isinstance(value, str) and value in wanted_amr for value in amr):
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in set(getattr(settings, "QMS_SSO_SECOND_FACTOR_ACR", ()))
