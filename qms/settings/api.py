"""The REST API's settings: Django REST framework (authentication, permissions, parsing, throttling), what a
request may hold, and the OpenAPI schema (drf-spectacular)."""

from qms.roles import Role as _Role
from qms.settings.environment import env

# --- REST API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Scoped tokens (qms.api.tokens: request.auth is the ApiToken) or the signed-in session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "qms.api.authentication.ScopedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "qms.api.authentication.TokenScopePermission",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "qms.api.pagination.ListPagination",
    "DEFAULT_PARSER_CLASSES": [
        "qms.api.parsing.SafeJSONParser",
        "qms.api.parsing.SafeFormParser",
        "qms.api.parsing.SafeMultiPartParser",
    ],
    "EXCEPTION_HANDLER": "qms.api.problems.exception_handler",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "qms.api.authentication.PerUserSessionRateThrottle",
        "qms.api.authentication.PerTokenRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_ANON_RATE", "30/minute"),
        "user": env("API_USER_RATE", "600/minute"),
        "token": env("API_TOKEN_RATE", "300/minute"),
    },
}
# The request-parsing layer (qms.api.parsing): what a request may hold before a view sees it.
API_MAX_BODY_BYTES = int(env("API_MAX_BODY_BYTES", str(1024 * 1024)))
API_MAX_JSON_DEPTH = int(env("API_MAX_JSON_DEPTH", "32"))
API_MAX_PAGE_SIZE = int(env("API_MAX_PAGE_SIZE", "200"))
API_MAX_OFFSET = int(env("API_MAX_OFFSET", "10000000"))
API_IDEMPOTENCY_HOURS = int(env("API_IDEMPOTENCY_HOURS", "24"))
# The API's schema documents its error answers too (schemathesis checks every answer against it in CI).
# Several records have a "status"; each gets its own enum name (check --deploy warns otherwise).
SPECTACULAR_SETTINGS = {
    "TITLE": "QMS Emergency Change Portal API",
    "DESCRIPTION": "File and follow emergency changes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "ChangeStatusEnum": "emergencies.models.changes.ChangeRecord.Status",
        "BypassStatusEnum": "emergencies.models.bypasses.BypassRequest.Status",
        "CCBSessionStatusEnum": "emergencies.models.ccb.CCBSession.Status",
        "PatchPackageStatusEnum": "emergencies.models.patches.PatchPackage.Status",
        "PatchArtifactKindEnum": "emergencies.models.patches.PatchArtifact.Kind",
        "UnitEventKindEnum": "emergencies.models.patches.UnitEvent.Kind",
        "UnitChannelEnum": "emergencies.models.patches.UnitDistribution.Channel",
        "CCBGateEnum": "emergencies.api.ccb.sessions.SESSION_GATE_CHOICES",  # the gates a CCB session decides
        "WarRoomEntryKindEnum": "emergencies.models.warroom.WarRoomEntry.Kind",
        "ReportKindEnum": "audits.models.ComplianceReport.Kind",
        "RoleEnum": [r.value for r in _Role],  # any portal role (the key roles of the roster are OnCallRoleEnum)
        "OnCallSlotEnum": "qms.roster.models.Slot",
        "OnCallRoleEnum": "qms.roster.models.KEY_ROLE_CHOICES",  # the key roles that keep an on-call roster
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "qms.openapi.add_error_responses",
        "emergencies.api.links.add_links",
    ],
}
