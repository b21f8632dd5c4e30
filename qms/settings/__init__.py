"""Settings, all from the environment.

Zero-setup defaults (SQLite and kombu's filesystem broker under ``var/``) let a newcomer run the portal
without any server; production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS and
DEBUG=0, and then passes ``manage.py check --deploy``.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab

from qms.settings.environment import env, env_bool, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))


DEBUG = env_bool("DEBUG")
SECRET_KEY = env("SECRET_KEY", "django-insecure-development-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PORTAL_BASE_URL = env("PORTAL_BASE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_htmx",
    "simple_history",
    "qms",
    "emergencies",
    "audits",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "audits.middleware.AuditContextMiddleware",
    "qms.middleware.LoginRequiredEverywhereMiddleware",
    "qms.middleware.UserTimezoneMiddleware",
    "qms.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "qms.urls"
WSGI_APPLICATION = "qms.wsgi.application"
AUTH_USER_MODEL = "qms.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "qms:dashboard"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "qms.context_processors.portal",
            ],
        },
    },
]

# The zero-setup defaults keep their files under var/.
VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'qms.sqlite3'}"),
        conn_max_age=int(env("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # A database that accepts connections but never answers must not hold a request for minutes.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = int(env("DB_CONNECT_TIMEOUT", "5"))
elif DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The zero-setup run has a web process, two worker processes and beat on one file: write-ahead logging
    # lets readers go on beside a writer, IMMEDIATE takes the write lock at BEGIN (so a transaction never
    # fails upgrading its lock), and writers wait their turn instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
# A lost database answers a clear 503 page instead of a 500 (qms.errors); it wraps everything that queries.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "qms.errors.DatabaseUnavailableMiddleware"
)
# Bad input answers a 400 that says what is wrong, before any view or session reads it (qms.middleware).
MIDDLEWARE.insert(
    MIDDLEWARE.index("qms.errors.DatabaseUnavailableMiddleware") + 1, "qms.middleware.RequestSanityMiddleware"
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env("TIME_ZONE", "UTC")  # default display zone; storage is always UTC
USE_I18N = True
USE_TZ = True
# Times in the admin (and any template printing a datetime) name their zone: qms/formats/en_GB/formats.py.
FORMAT_MODULE_PATH = ["qms.formats"]

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# Uploaded patch artifacts. Never served from MEDIA_URL: the portal serves them after a permission check.
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# --- Email -------------------------------------------------------------------------------------------
EMAIL_BACKEND = env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_TIMEOUT = int(env("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "QMS Emergency Portal <qms-portal@localhost>")

# --- Celery ------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", env("REDIS_URL", "filesystem://"))
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The worker sees a stop request between polls: a short interval lets Ctrl-C stop it at once.
        "polling_interval": 0.2,
    }
else:
    # Fail fast when Redis is unreachable: a request must never hang on the broker.
    #
    # max_retries=0 is what bounds a publish from a request to one connect. On a connection that is not up,
    # kombu's Connection.default_channel reconnects with these options alone (by default: again and again,
    # sleeping 2 s then 4 s, until broker_connection_timeout), which held each filing about 6 s while Redis
    # was down; apply_async(retry=False) does not reach that loop, and redis-py does not retry (kombu builds
    # its pool without redis-py's Retry). The outbox row stays pending for the notification_dispatch_pending
    # beat job. The worker's consumer and beat connect through ensure_connection with
    # broker_connection_max_retries, so they still wait for Redis. Keep request publishes at retry=False: a
    # retry=True publish writes its retry policy into the pooled connection's options (kombu Producer.publish).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "max_retries": 0,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "visibility_timeout": 3600,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "notifications-dispatch-pending": {
        "task": "qms.tasks.notification_dispatch_pending_task",
        "schedule": timedelta(minutes=1),
    },
    "obligations-sweep": {
        "task": "audits.tasks.obligation_sweep_task",
        "schedule": timedelta(minutes=5),
    },
    "audit-chain-verify": {
        "task": "audits.tasks.audit_chain_verify_task",
        "schedule": crontab(minute=17, hour=3),
    },
    "audit-checkpoint": {
        "task": "audits.tasks.audit_checkpoint_task",
        "schedule": crontab(minute=5),
    },
    # Certifications that lapse within 30 days become a clock on their holder.
    "training-expiry-sweep": {
        "task": "audits.tasks.training_expiry_sweep_task",
        "schedule": crontab(minute=41, hour=2),
    },
    "procedure-versions-activate": {
        "task": "qms.tasks.procedure_versions_activate_task",
        "schedule": timedelta(minutes=1),
    },
    # On-call pages not acknowledged within the response time go to the backup (qms.roster.paging).
    "oncall-escalate": {
        "task": "qms.tasks.oncall_escalate_task",
        "schedule": timedelta(minutes=1),
    },
}

# Signed checkpoints of the audit chain (audits.checkpoints): written every hour and on demand, outside the
# database; the private key signs them, the public key (QMS_CHECKPOINT_KEY + ".pub") is the one to publish.
QMS_CHECKPOINT_DIR = Path(env("QMS_CHECKPOINT_DIR", str(VAR_DIR / "checkpoints")))
QMS_CHECKPOINT_KEY = Path(env("QMS_CHECKPOINT_KEY", str(VAR_DIR / "checkpoint-signing-key.pem")))
QMS_CHECKPOINT_SINK = env("QMS_CHECKPOINT_SINK", "audits.checkpoints.sinks.FolderSink")

# Compliance reports (QMS Emergency Bypass Procedures v1.0, "Audit Report Generation"): when the beat generates
# them, in UTC. Each covers the last complete period (yesterday, last Monday-Sunday week, last month).
from qms.procedures import REPORT_SCHEDULE_DEFAULTS as _REPORT_DEFAULTS  # noqa: E402

COMPLIANCE_REPORT_SCHEDULE = {
    kind: {
        name: int(env(f"COMPLIANCE_REPORT_{kind.upper()}_{name.upper()}", str(default)))
        for name, default in defaults.items()
    }
    for kind, defaults in _REPORT_DEFAULTS.items()
}
# Besides all procedures, the scheduler writes a report of each of these scopes every period ("CODE" for every
# version of a procedure, "CODE:N" for one version; comma-separated), once per period and scope.
QMS_SCHEDULED_REPORT_SCOPES = env_list("QMS_SCHEDULED_REPORT_SCOPES")
CELERY_BEAT_SCHEDULE.update(
    {
        f"compliance-report-{kind}": {
            "task": "audits.tasks.compliance_report_task",
            "schedule": crontab(**{k: str(v) for k, v in when.items()}),
            "args": (kind,),
        }
        for kind, when in COMPLIANCE_REPORT_SCHEDULE.items()
    }
)

# --- Chat channels and alert intake ------------------------------------------------------------------
# Slack Web API (chat.postMessage) through slack_sdk; SLACK_API_URL points it elsewhere (a test server).
SLACK_BOT_TOKEN = env("SLACK_BOT_TOKEN")
SLACK_API_URL = env("SLACK_API_URL", "https://slack.com/api/")
CHANNEL_TIMEOUT = int(env("CHANNEL_TIMEOUT", "10"))
# Per alert source: Alertmanager and Opsgenie send "Authorization: Bearer <secret>", PagerDuty signs each
# webhook with its v3 signing secret (X-PagerDuty-Signature). An empty secret refuses every payload.
ALERT_SECRETS = {
    "alertmanager": env("ALERTS_ALERTMANAGER_TOKEN"),
    "pagerduty": env("ALERTS_PAGERDUTY_SECRET"),
    "opsgenie": env("ALERTS_OPSGENIE_TOKEN"),
}
ALERT_PAYLOAD_MAX_BYTES = int(env("ALERT_PAYLOAD_MAX_BYTES", str(512 * 1024)))

from qms.settings.api import *  # noqa: E402, F403  (REST_FRAMEWORK, API_*, SPECTACULAR_SETTINGS)

# --- History -----------------------------------------------------------------------------------------
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True

# --- Security ----------------------------------------------------------------------------------------
# Cookies and headers, session lifetimes, brute-force protection, the second factor and who signs.
from qms.settings.security import *  # noqa: E402, F403

INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp"]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "django_otp.middleware.OTPMiddleware",
)
MIDDLEWARE[MIDDLEWARE.index("qms.middleware.LoginRequiredEverywhereMiddleware") : 0] = [
    "qms.middleware.SessionTimeoutMiddleware",
    "qms.middleware.SecondFactorMiddleware",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
# Idempotency-Key on API writes and a clean audit context per API request (qms.api.idempotency): after the
# session's user is known, before any view runs.
MIDDLEWARE.insert(
    MIDDLEWARE.index("qms.middleware.SecondFactorMiddleware") + 1, "qms.api.idempotency.ApiRequestMiddleware"
)

# The auditors' evidence: retention of the record of an emergency change, counted from when it was last
# in effect (QMS Emergency Bypass Procedures v1.0, audit trail).
QMS_RETENTION_YEARS = int(env("QMS_RETENTION_YEARS", "7"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"expected_refusals": {"()": "qms.errors.ExpectedRefusalFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # 403 and 404 are expected answers: one line each, no traceback.
    "loggers": {"django.request": {"filters": ["expected_refusals"]}},
}

# --- GitHub (emergencies.services.github, .activation): a GitHub App, or a fine-grained token ------------------
GITHUB_API_URL = env("GITHUB_API_URL", "https://api.github.com").rstrip("/")
GITHUB_APP_ID = env("GITHUB_APP_ID")
GITHUB_APP_PRIVATE_KEY_PATH = env("GITHUB_APP_PRIVATE_KEY_PATH")
GITHUB_TOKEN = env("GITHUB_TOKEN")
GITHUB_WEBHOOK_SECRET = env("GITHUB_WEBHOOK_SECRET")
GITHUB_CALL_MAX_ATTEMPTS = int(env("GITHUB_CALL_MAX_ATTEMPTS", "12"))
CELERY_BEAT_SCHEDULE.update(
    {
        "github-calls-dispatch": {
            "task": "emergencies.tasks.github_calls_dispatch_task",
            "schedule": timedelta(minutes=1),
        },
        "github-deliveries-pending": {
            "task": "emergencies.tasks.github_deliveries_pending_task",
            "schedule": timedelta(minutes=1),
        },
        "github-scopes-expire": {
            "task": "emergencies.tasks.github_scopes_expire_task",
            "schedule": timedelta(minutes=5),
        },
    }
)

# --- Single sign-on (OpenID Connect through mozilla-django-oidc; qms.sso) ------------------------------
# Off by default: local passwords stay (small installs, break-glass admin accounts). When on, users are
# created at their first sign-in, their roles come from the group claim (OIDC_ROLE_MAP: group=role, …) at
# every sign-in, and a signature re-authenticates at the provider (prompt=login, max_age=0), accepted while
# the ID token's auth_time is younger than SSO_REAUTH_MAX_AGE seconds.
INSTALLED_APPS += ["qms.sso"]
TEMPLATES[0]["OPTIONS"]["context_processors"].append("qms.sso.context.sso")
OIDC_ENABLED = env_bool("OIDC_ENABLED")
OIDC_PROVIDER_NAME = env("OIDC_PROVIDER_NAME", "single sign-on")
OIDC_OP_ISSUER = env("OIDC_OP_ISSUER").rstrip("/")
OIDC_OP_AUTHORIZATION_ENDPOINT = env("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env("OIDC_OP_JWKS_ENDPOINT")
# Unset endpoints are read from <OIDC_OP_ISSUER>/.well-known/openid-configuration at first use (qms.sso.discovery).
# Signing out of the portal also ends the provider's session there (RP-initiated logout; the ID token is kept
# in the session as its id_token_hint).
OIDC_OP_LOGOUT_ENDPOINT = env("OIDC_OP_LOGOUT_ENDPOINT")
OIDC_STORE_ID_TOKEN = True
OIDC_RP_CLIENT_ID = env("OIDC_RP_CLIENT_ID")
OIDC_RP_CLIENT_SECRET = env("OIDC_RP_CLIENT_SECRET")
OIDC_RP_SIGN_ALGO = env("OIDC_RP_SIGN_ALGO", "RS256")
OIDC_RP_SCOPES = env("OIDC_RP_SCOPES", "openid email profile groups")
OIDC_USE_PKCE = True
OIDC_TIMEOUT = int(env("OIDC_TIMEOUT", "10"))
OIDC_AUTHENTICATION_CALLBACK_URL = "sso-login-callback"
LOGIN_REDIRECT_URL_FAILURE = "login"
QMS_OIDC_GROUPS_CLAIM = env("OIDC_GROUPS_CLAIM", "groups")
QMS_SSO_REAUTH_MAX_AGE = int(env("SSO_REAUTH_MAX_AGE", "300"))
# With QMS_REQUIRE_TOTP_FOR_SIGNERS on, a re-authentication counts as a second factor when the ID token's
# amr names one (RFC 8176) or its acr is one of SSO_SECOND_FACTOR_ACR (comma-separated).
QMS_SSO_SECOND_FACTOR_AMR = env_list("SSO_SECOND_FACTOR_AMR", "mfa,otp,hwk,swk,sms,fpt,face,iris")
QMS_SSO_SECOND_FACTOR_ACR = env_list("SSO_SECOND_FACTOR_ACR")
# Re-authentication proofs are deleted this many hours after they were used or expired (a beat job).
QMS_SSO_PROOF_RETENTION_HOURS = int(env("SSO_PROOF_RETENTION_HOURS", "24"))
CELERY_BEAT_SCHEDULE.update(
    {
        "sso-reauth-proofs-purge": {
            "task": "qms.sso.tasks.sso_reauth_proofs_purge_task",
            "schedule": crontab(minute=23),
        },
        "idempotency-records-purge": {
            "task": "qms.tasks.idempotency_records_purge_task",
            "schedule": crontab(minute=53),
        },
    }
)
if OIDC_ENABLED:
    from qms.sso.config import parse_role_map

    QMS_OIDC_ROLE_MAP = parse_role_map(env("OIDC_ROLE_MAP"))
    AUTHENTICATION_BACKENDS.append("qms.sso.backend.PortalOIDCBackend")
