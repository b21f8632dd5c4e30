"""The newcomer's first run (``make run`` with nothing configured) works on its zero-setup database, SQLite:
the migrations apply from zero and the demo seeds, including its compliance reports (the report's SQL must
not use what only PostgreSQL has)."""

import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def test_the_demo_seeds_on_the_zero_setup_sqlite_database(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'qms.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
        "DEBUG": "1",
        "DJANGO_SETTINGS_MODULE": "qms.settings",
    }
    for command in (["migrate", "--no-input", "-v", "0"], ["seed_demo"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
    assert "Monthly compliance report" in done.stdout and "Demo ready" in done.stdout, done.stdout[-2000:]
