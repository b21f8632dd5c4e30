"""Views of the project: the dashboard, preferences, tokens and people (``portal``) and the procedure
editor (``procedures``)."""

from qms.views.portal import (
    api_token_create_view,
    api_token_revoke_view,
    dashboard,
    healthz,
    preferences,
    user_detail,
    user_list,
    user_signing_unlock,
)

__all__ = [
    "api_token_create_view",
    "api_token_revoke_view",
    "dashboard",
    "healthz",
    "preferences",
    "user_detail",
    "user_list",
    "user_signing_unlock",
]
