"""A bypass on GitHub itself: activation posts the status, label and issues (validated against GitHub's REST
description by the test server); new commits, merges, reverts and expiry are captured back."""

import socket
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audits.models import AuditEvent
from emergencies.models import BypassRequest
from emergencies.models.github import GitHubBypassScope, GitHubCall, GitHubCommitCheck, GitHubFinding
from emergencies.services.activation import github_call_deliver, github_calls_due, github_scopes_expire
from emergencies.tasks import github_calls_dispatch_task
from qms.models import Notification, OutboxMessage
from qms.roles import Role
from tests.emergencies.github_api import webhook_example
from tests.emergencies.github_helpers import (
    CHECK,
    HEAD,
    MERGE,
    NEW_HEAD,
    REPO,
    failing_check,
    grant,
    link,
    merged,
    request_bypass,
    reverted,
    send,
    synchronize,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_user, oncall):
    return {
        "admin": make_user(is_superuser=True, is_staff=True, username="root"),
        "dev": oncall,
        "lead": make_user(Role.LEAD, username="lead"),
        "qms": make_user(Role.QMS, username="qms", email="qms@example.com"),
    }


@pytest.fixture
def repo(people):
    return link(people["admin"])


@pytest.fixture
def active(client, repo, people, webhook_secret, github_api):
    failing_check(client, webhook_secret)
    bypass, scope = grant(request_bypass(people["dev"]), people["lead"])
    assert bypass.status == BypassRequest.Status.ACTIVE
    return bypass, scope


def test_activation_posts_status_label_and_one_issue_per_remediation_clock(active, github_api, client, people):
    bypass, scope = active
    assert github_api.requests == []  # nothing is sent by the request that signed
    assert GitHubCall.objects.filter(bypass=bypass, state=GitHubCall.State.PENDING).count() == 3
    assert github_calls_dispatch_task() == 3

    (status,) = github_api.calls("repos/create-commit-status")
    assert status["path"] == f"/repos/{REPO}/statuses/{HEAD}"
    assert status["body"]["state"] == "success" and status["body"]["context"] == "qms/bypass"
    assert bypass.identifier in status["body"]["description"]
    assert status["body"]["target_url"].endswith(bypass.get_absolute_url())
    assert status["headers"]["Authorization"].endswith(" github_pat_test")
    (label,) = github_api.calls("issues/add-labels")
    assert label["path"] == f"/repos/{REPO}/issues/2/labels" and label["body"] == {"labels": ["qms-bypass-L1"]}
    (issue,) = github_api.calls("issues/create")
    assert "Code quality (minor)" in issue["body"]["title"] and CHECK in issue["body"]["title"]
    assert "Due:" in issue["body"]["body"] and people["dev"].display_name in issue["body"]["body"]

    calls = GitHubCall.objects.filter(bypass=bypass)
    assert set(calls.values_list("state", flat=True)) == {GitHubCall.State.DELIVERED}
    tracking = calls.get(kind=GitHubCall.Kind.ISSUE)
    assert tracking.result["html_url"].endswith(f"/issues/{tracking.result['number']}")
    scope.refresh_from_db()
    assert scope.granted_at and scope.expires_at and scope.expires_at > timezone.now()
    assert AuditEvent.objects.filter(action="bypass.github_granted", subject_id=str(bypass.pk)).exists()

    client.force_login(people["lead"])
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert 'data-testid="github-panel"' in page and tracking.result["html_url"] in page
    assert "Not yet on GitHub" not in page
    assert github_calls_dispatch_task() == 0  # delivered once
    assert len(github_api.requests) == 3


def test_a_new_push_does_not_inherit_the_bypass(active, github_api, client, people, webhook_secret):
    bypass, scope = active
    github_calls_dispatch_task()
    synchronize(client, webhook_secret)
    scope.refresh_from_db()
    assert scope.superseded_by_sha == NEW_HEAD and scope.needs_reapproval
    github_calls_dispatch_task()
    pending = [c for c in github_api.calls("repos/create-commit-status") if c["body"]["state"] == "pending"]
    assert [c["path"] for c in pending] == [f"/repos/{REPO}/statuses/{NEW_HEAD}"]
    assert "New commits since the bypass was granted" in pending[0]["body"]["description"]
    client.force_login(people["lead"])
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert 'data-testid="github-reapproval"' in page
    assert AuditEvent.objects.filter(action="bypass.github_superseded", subject_id=str(bypass.pk)).exists()
    note = Notification.objects.get(recipient=people["dev"], subject__startswith="[RE-APPROVAL NEEDED]")
    assert NEW_HEAD in note.body and note.link.endswith(f"/github/{scope.repository_id}/pulls/2/")
    synchronize(client, webhook_secret)  # the same push delivered again: one message
    assert Notification.objects.filter(subject__startswith="[RE-APPROVAL NEEDED]").count() == 1
    # a bypass requested from a form opened before the push is refused
    with pytest.raises(ValidationError, match="New commits"):
        request_bypass(people["dev"], head_sha=HEAD)


def test_one_bypass_at_a_time_covers_a_commit(active, people):
    bypass, _scope = active
    with pytest.raises(ValidationError, match=f"{bypass.identifier} already covers"):
        request_bypass(people["dev"])
    assert GitHubBypassScope.objects.count() == 1


def test_merge_of_the_bypassed_pull_request_is_recorded(active, client, webhook_secret):
    bypass, scope = active
    merged(client, webhook_secret)
    scope.refresh_from_db()
    assert (scope.merge_sha, scope.merged_by) == (MERGE, "Codertocat") and scope.merged_at
    event = AuditEvent.objects.get(action="bypass.github_merged", subject_id=str(bypass.pk))
    assert "Merged by Codertocat" in event.reason and event.after["merge_sha"] == MERGE
    assert not GitHubFinding.objects.exists()


def test_merge_without_a_bypass_is_an_unauthorised_bypass(client, repo, people, webhook_secret):
    failing_check(client, webhook_secret)
    merged(client, webhook_secret)
    finding = GitHubFinding.objects.get()
    assert finding.kind == GitHubFinding.Kind.UNAUTHORISED_MERGE
    assert (finding.head_sha, finding.merge_sha, finding.merged_by) == (HEAD, MERGE, "Codertocat")
    assert finding.failing_checks == [CHECK]
    assert AuditEvent.objects.filter(action="github.unauthorised_merge", subject_id=str(repo.pk)).exists()
    note = Notification.objects.get(recipient=people["qms"])
    assert "UNAUTHORISED BYPASS" in note.subject
    client.force_login(people["qms"])
    dashboard = client.get(reverse("qms:dashboard")).content.decode()
    assert 'data-testid="github-findings"' in dashboard and "Codertocat/Hello-World#2" in dashboard
    # the same merge delivered again is one finding, one notification
    merged(client, webhook_secret)
    assert GitHubFinding.objects.count() == 1 and Notification.objects.count() == 1


def test_a_merge_with_passing_checks_and_no_bypass_is_not_a_finding(client, repo, webhook_secret):
    send(client, webhook_secret, "pull_request", webhook_example("pull_request", "opened"))
    send(client, webhook_secret, "check_run", webhook_example("check_run", "completed", index=1))  # success
    merged(client, webhook_secret)
    assert not GitHubFinding.objects.exists()


def test_a_revert_of_the_merge_commit_is_detected(active, client, webhook_secret):
    bypass, scope = active
    merged(client, webhook_secret)
    reverted(client, webhook_secret)
    scope.refresh_from_db()
    assert scope.revert_sha == "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c" and scope.reverted_at
    assert AuditEvent.objects.filter(action="bypass.github_reverted", subject_id=str(bypass.pk)).exists()


def test_an_unmerged_bypass_expires_and_github_is_told(active, github_api):
    bypass, scope = active
    github_calls_dispatch_task()
    assert github_scopes_expire(now=scope.expires_at - timedelta(seconds=1)) == 0
    assert github_scopes_expire(now=scope.expires_at + timedelta(seconds=1)) == 1
    assert github_scopes_expire(now=scope.expires_at + timedelta(hours=1)) == 0  # once
    github_calls_dispatch_task()
    last = github_api.calls("repos/create-commit-status")[-1]
    assert last["body"]["state"] == "failure" and "expired" in last["body"]["description"]
    assert last["path"].endswith(HEAD)
    assert AuditEvent.objects.filter(action="bypass.github_expired", subject_id=str(bypass.pk)).exists()


def test_github_down_then_back_delivers_each_call_once(active, github_api, client, people):
    bypass, _scope = active
    github_api.down = True
    assert github_calls_dispatch_task() == 3
    calls = GitHubCall.objects.filter(bypass=bypass)
    assert set(calls.values_list("state", flat=True)) == {GitHubCall.State.PENDING}
    status = calls.get(kind=GitHubCall.Kind.STATUS)
    assert status.attempts == 1 and "503" in status.last_error and status.next_attempt_at > timezone.now()
    client.force_login(people["lead"])
    assert "Not yet on GitHub: 3 calls waiting" in client.get(bypass.get_absolute_url()).content.decode()
    assert github_calls_dispatch_task() == 0  # backing off

    github_api.down = False
    github_api.requests.clear()
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert github_calls_dispatch_task() == 3
        assert github_calls_dispatch_task() == 0
    assert len(github_api.calls("repos/create-commit-status")) == 1
    assert len(github_api.calls("issues/add-labels")) == 1
    # the issue was not created before: a listing is asked first (a retry never opens a second one)
    assert len(github_api.calls("issues/list-for-repo")) == 1 and len(github_api.calls("issues/create")) == 1
    assert set(calls.values_list("state", flat=True)) == {GitHubCall.State.DELIVERED}
    assert "Not yet on GitHub" not in client.get(bypass.get_absolute_url()).content.decode()


def test_a_retried_issue_that_reached_github_is_not_opened_twice(active, github_api):
    bypass, _scope = active
    call = GitHubCall.objects.get(bypass=bypass, kind=GitHubCall.Kind.ISSUE)
    github_call_deliver(call_id=call.pk)
    created = github_api.issues[0]
    # as if the worker died after GitHub created the issue and before the portal committed it
    call.refresh_from_db()
    call.state, call.attempts, call.result = GitHubCall.State.PENDING, 1, {}
    call.save()
    github_call_deliver(call_id=call.pk)
    call.refresh_from_db()
    assert call.state == GitHubCall.State.DELIVERED and call.result["number"] == created["number"]
    assert len(github_api.calls("issues/create")) == 1


def test_rate_limited_calls_wait_for_the_reset(active, github_api):
    github_api.rate_limited = True
    github_calls_dispatch_task()
    call = GitHubCall.objects.get(kind=GitHubCall.Kind.STATUS)
    assert call.state == GitHubCall.State.PENDING and "403" in call.last_error
    assert not github_calls_due(now=timezone.now())


def test_a_skipped_check_passing_on_the_default_branch_is_evidence_for_the_validator(
    active, client, people, webhook_secret
):
    bypass, _ = active
    payload = webhook_example("check_run", "completed", index=1)  # Octocoders-linter success
    payload["check_run"]["check_suite"]["head_branch"] = "master"
    payload["check_run"]["head_sha"] = MERGE
    send(client, webhook_secret, "check_run", payload)
    assert GitHubCommitCheck.objects.get(sha=MERGE, name=CHECK).on_default_branch
    client.force_login(people["lead"])
    page = client.get(bypass.get_absolute_url()).content.decode()
    assert 'data-testid="github-evidence"' in page and "c4295bd" in page
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.ACTIVE  # the human validation stays


def test_only_an_administrator_links_repositories(people):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        link(people["qms"], "acme/app")
    with pytest.raises(ValidationError, match="Not a check"):
        link(people["admin"], "acme/app", required_checks={"lint": "no-such-check"})
    with pytest.raises(ValidationError):
        link(people["admin"], "not a repository")
    assert not GitHubBypassScope.objects.exists()


def test_the_test_server_refuses_what_the_description_does_not_allow(github_api):
    import httpx

    ok = httpx.post(f"{github_api.url}/repos/o/r/statuses/{HEAD}", json={"state": "success", "context": "qms/bypass"})
    assert ok.status_code == 201 and ok.json()["state"] == "success"
    assert not github_api.errors
    bad = httpx.post(f"{github_api.url}/repos/o/r/statuses/{HEAD}", json={"state": "green"})
    assert bad.status_code == 422
    assert httpx.delete(f"{github_api.url}/repos/o/r/statuses/{HEAD}").status_code == 404
    assert httpx.post(f"{github_api.url}/repos/o/r/issues", json={"body": "no title"}).status_code == 422
    assert len(github_api.errors) == 3
    github_api.errors.clear()  # refused as they should be


def test_as_a_github_app_the_installation_token_is_obtained_first(active, github_api, settings, tmp_path):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "app.pem").write_bytes(pem)
    settings.GITHUB_APP_ID, settings.GITHUB_APP_PRIVATE_KEY_PATH, settings.GITHUB_TOKEN = (
        "123456",
        str(tmp_path / "app.pem"),
        "",
    )
    bypass, scope = active
    repository = scope.repository
    repository.installation_id = 42
    repository.save()
    call = GitHubCall.objects.get(bypass=bypass, kind=GitHubCall.Kind.STATUS)
    assert github_call_deliver(call_id=call.pk).state == GitHubCall.State.DELIVERED
    (grant_call,) = github_api.calls("apps/create-installation-access-token")
    assert grant_call["path"] == "/app/installations/42/access_tokens"
    app_jwt = grant_call["headers"]["Authorization"].split(" ", 1)[1]
    claims = jwt.decode(app_jwt, key.public_key(), algorithms=["RS256"])
    assert str(claims["iss"]) == "123456"
    (status,) = github_api.calls("repos/create-commit-status")
    assert status["headers"]["Authorization"].startswith("token ghs_")


def test_github_unreachable_is_retried_with_backoff(active, settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    settings.GITHUB_API_URL = f"http://127.0.0.1:{closed}"
    github_calls_dispatch_task()
    call = GitHubCall.objects.get(kind=GitHubCall.Kind.STATUS)
    assert call.state == GitHubCall.State.PENDING and call.attempts == 1 and call.last_error
    first_wait = call.next_attempt_at - timezone.now()
    with time_machine.travel(call.next_attempt_at + timedelta(seconds=1)):
        github_calls_dispatch_task()
        call.refresh_from_db()
        assert call.attempts == 2 and call.state == GitHubCall.State.PENDING
        assert call.next_attempt_at - timezone.now() > timedelta(seconds=50)  # the wait doubles
    assert timedelta(seconds=25) < first_wait <= timedelta(seconds=31)


def test_merge_without_a_merge_commit_sha_is_still_recorded(active, client, webhook_secret):
    bypass, scope = active
    merged(client, webhook_secret, merge_sha=None)
    scope.refresh_from_db()
    assert scope.merged_at and scope.merge_sha == ""
    assert "unknown" in AuditEvent.objects.get(action="bypass.github_merged", subject_id=str(bypass.pk)).reason


def test_activation_while_the_broker_is_down_is_delivered_by_the_beat_job(
    client, repo, people, webhook_secret, github_api, celery_on, django_capture_on_commit_callbacks
):
    from tests.conftest import _free_port

    failing_check(client, webhook_secret)
    bypass = request_bypass(people["dev"])
    celery_on(f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    with django_capture_on_commit_callbacks(execute=True):
        bypass, _scope = grant(bypass, people["lead"])
    owed = OutboxMessage.objects.filter(task="emergencies.tasks.github_call_deliver_task").count()
    assert bypass.status == BypassRequest.Status.ACTIVE and owed >= 3
    assert github_api.requests == []
    assert github_calls_dispatch_task() == 3
    assert len(github_api.calls("repos/create-commit-status")) == 1
