"""What single sign-on tells oversight (``audits.receivers.sso``). Sent inside the writing transaction."""

from django.dispatch import Signal

# user, claims (the provider's subject and issuer): a user created at their first sign-in
sso_user_created = Signal()
# user, before, after (sorted role values), groups (the claim's values)
sso_roles_changed = Signal()
# user, outcome ("accepted" or "refused"), reason, intent
sso_reauth_event = Signal()
