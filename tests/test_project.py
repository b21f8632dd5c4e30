"""Project-level guarantees: deploy checks, migrations, admin, demo data."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from emergencies.models import ChangeRecord
from qms.models import ProcedureVersion, User
from qms.roles import Role
from tests.factories import file_stub

ROOT = Path(__file__).resolve().parent.parent


def test_production_settings_pass_check_deploy():
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "SESSION_", "CSRF_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "qms.settings",
        "DEBUG": "0",
        "SECRET_KEY": "k8#Yt2!vQ9zL4m@Wp7rX1s$Hd6fN3jB0cA5gE8uR2yT6wZ9qK4",
        "ALLOWED_HOSTS": "qms.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.django_db
def test_models_and_migrations_agree():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_roles_are_groups_created_by_migration():
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {r.group_name for r in Role}
    assert len(Role) == 18  # CM-WF-EMERGENCY §13.1 added the test and operations leads


@pytest.mark.django_db
def test_four_procedure_presets_are_loaded():
    codes = set(ProcedureVersion.objects.values_list("procedure__code", flat=True))
    assert codes == {"emergency-bypass-workflow", "qms-emergency-bypass-v1", "eng-proc-004", "cm-wf-emergency"}


def test_every_model_is_in_the_admin():
    ours = [
        m
        for m in apps.get_models()
        if m._meta.app_label in {"qms", "emergencies", "audits"} and not m.__name__.startswith("Historical")
    ]
    missing = [m.__name__ for m in ours if m not in admin.site._registry]
    assert missing == []


@pytest.mark.django_db
def test_admin_shows_history_keeps_status_read_only_and_refuses_revert(client, oncall):
    change = file_stub(oncall)
    superuser = User.objects.create_superuser("root", "root@example.com", "pw-correct-horse")
    client.force_login(superuser)
    change_url = reverse("admin:emergencies_changerecord_change", args=[change.pk])
    page = client.get(change_url)
    assert page.status_code == 200
    assert 'name="status"' not in page.content.decode()
    history = client.get(reverse("admin:emergencies_changerecord_history", args=[change.pk]))
    assert history.status_code == 200
    record = change.history.first()
    revert_url = reverse("admin:emergencies_changerecord_simple_history", args=[change.pk, record.history_id])
    form = {f.name: getattr(record, f.attname) or "" for f in ChangeRecord._meta.fields if f.name != "id"}
    assert client.post(revert_url, {**form, "title": "rewritten"}).status_code == 403
    change.refresh_from_db()
    assert change.title != "rewritten"
    assert (
        client.post(reverse("admin:emergencies_changerecord_delete", args=[change.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert ChangeRecord.objects.filter(pk=change.pk).exists()


@pytest.mark.django_db
def test_users_cannot_be_deleted_in_the_admin(client, oncall):
    superuser = User.objects.create_superuser("root", "root@example.com", "pw-correct-horse")
    client.force_login(superuser)
    assert client.post(reverse("admin:qms_user_delete", args=[oncall.pk]), {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=oncall.pk).exists()


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
    assert not User.objects.filter(username="oncall").exists()


@pytest.mark.django_db
def test_seed_demo_creates_one_user_per_role_and_changes_in_several_states(settings, monkeypatch, tmp_path):
    from audits.models import ComplianceReport
    from emergencies.models import BypassRequest, CCBSession, PatchPackage, PostMortem, UnitDistribution

    settings.DEBUG = True
    settings.MEDIA_ROOT = tmp_path / "media"
    monkeypatch.setenv("DEMO_PASSWORD", "demo-pass-123")
    call_command("seed_demo")
    for role in Role:
        user = User.objects.get(username=role.value)
        assert user.check_password("demo-pass-123")
        assert user.has_role(role)
    states = set(ChangeRecord.objects.values_list("status", flat=True))
    assert len(states) >= 6
    call_command("seed_demo")  # a second run keeps what is there
    assert ChangeRecord.objects.filter(source="emergency").count() == 11
    codes = set(ChangeRecord.objects.values_list("procedure_version__procedure__code", flat=True))
    assert codes == {"emergency-bypass-workflow", "qms-emergency-bypass-v1", "eng-proc-004", "cm-wf-emergency"}
    open_session = CCBSession.objects.get(status="open")
    assert open_session.votes.count() == 2 and open_session.change.gate_decisions.filter(gate="declare").exists()
    assert PatchPackage.objects.get().status == "distributed"
    states = {(u.sent_at is not None, u.install_status) for u in UnitDistribution.objects.all()}
    assert len(states) == 3
    assert PostMortem.objects.filter(status="approved", change__status="closed").exists()
    assert BypassRequest.objects.filter(level="L2", status="active").exists()
    assert set(ComplianceReport.objects.values_list("kind", flat=True)) == {"daily", "weekly", "monthly"}
