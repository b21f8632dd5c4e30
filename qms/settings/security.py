"""The security settings: cookies and headers (HTTPS unless DEBUG), session lifetimes, brute-force protection
(django-axes), the second factor and who signs a new procedure version."""

from datetime import timedelta

from qms.settings.environment import env, env_bool, env_list

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = int(env("SESSION_COOKIE_AGE", str(12 * 3600)))
SESSION_SAVE_EVERY_REQUEST = False
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not env_bool("DEBUG"):
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_TLS_PROXY", True):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# Absolute lifetime (SESSION_COOKIE_AGE, counted from sign-in) and idle lifetime, both enforced by
# qms.middleware.SessionTimeoutMiddleware on the server whatever the browser keeps.
SESSION_IDLE_TIMEOUT = int(env("SESSION_IDLE_TIMEOUT", str(30 * 60)))

# Brute-force protection (django-axes): after AXES_FAILURE_LIMIT failed sign-ins, the username and the
# client address are each locked for AXES_COOLOFF_MINUTES (AXES_LOCKOUT_PARAMETERS: criteria separated by
# commas, "+" joins fields into one criterion, e.g. "username+ip_address" behind a shared NAT). The client
# address is REMOTE_ADDR unless the proxy in front is trusted to set X-Forwarded-For
# (AXES_TRUSTED_PROXY_COUNT), so a forged header cannot dodge the count.
AXES_FAILURE_LIMIT = int(env("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(env("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [
    c.split("+") if "+" in c else c for c in env_list("AXES_LOCKOUT_PARAMETERS", "username,ip_address")
]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_DISABLE_ACCESS_LOG = True  # sign-ins are in the audit trail
AXES_VERBOSE = False
if int(env("AXES_TRUSTED_PROXY_COUNT", "0")):
    AXES_IPWARE_PROXY_COUNT = int(env("AXES_TRUSTED_PROXY_COUNT", "0"))
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)

# Optional second factor (TOTP, django-otp). Anyone may enrol a device; once they have one, a sign-in
# is finished only after a code. With QMS_REQUIRE_TOTP_FOR_SIGNERS on, every signature needs a session
# verified with a code; an API token signs only when QMS_API_TOKENS_MAY_SIGN is on and the token was
# created from such a session (qms.services.signatures.signing_refusal decides, for every signing path).
QMS_REQUIRE_TOTP_FOR_SIGNERS = env_bool("QMS_REQUIRE_TOTP_FOR_SIGNERS")
# Who approves a new procedure version by signature before it can be published (one signer per role listed,
# none of them its author): role codes of qms.roles, comma-separated.
QMS_PROCEDURE_APPROVER_ROLES = [
    r.strip() for r in env("QMS_PROCEDURE_APPROVER_ROLES", "quality,qms").split(",") if r.strip()
]
QMS_API_TOKENS_MAY_SIGN = env_bool("QMS_API_TOKENS_MAY_SIGN")
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "QMS Emergency Portal")
