"""Test settings: the real settings, on the database and broker the environment names.

The suite runs over plain HTTP against the test client and a live server, so TLS redirection is off;
everything else (secure cookies aside) is as in production.
"""

import os

os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")

from qms.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,  # noqa: F405
    "DEFAULT_THROTTLE_RATES": {"anon": "1000/minute", "user": "10000/minute", "token": "10000/minute"},
}

# Worker threads and the live server open their own connections; close them after each use so the test
# database can be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
CHANNEL_TIMEOUT = 3

# Checkpoints never go to the working tree's var/: each test run has its own (empty) folder and no key until a
# test makes one.
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

_CHECKPOINTS = Path(tempfile.mkdtemp(prefix="qms-test-checkpoints-"))
QMS_CHECKPOINT_DIR = _CHECKPOINTS / "checkpoints"
QMS_CHECKPOINT_KEY = _CHECKPOINTS / "no-key-configured.pem"
