"""The deployment gate: an answer for every state, and a token that can do nothing else."""

from datetime import timedelta

import pytest
from django.urls import reverse

from emergencies.models.github import GitHubBypassScope
from emergencies.services.activation import github_scopes_expire
from emergencies.services.bypasses import bypass_reject, bypass_withdraw
from emergencies.services.deployment import deployment_gate_token_create, deployment_gate_token_revoke
from qms.roles import Role
from tests.emergencies.github_api import webhook_example
from tests.emergencies.github_helpers import (
    HEAD,
    MERGE,
    NEW_HEAD,
    PASSWORD,
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
from tests.factories import api_token
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db
URL = "/api/v1/gates/deployment"


@pytest.fixture
def people(make_user, oncall):
    return {
        "admin": make_user(is_superuser=True, is_staff=True, username="root"),
        "dev": oncall,
        "lead": make_user(Role.LEAD, username="lead"),
    }


@pytest.fixture
def repo(people):
    return link(people["admin"])


@pytest.fixture
def token(repo, people):
    return deployment_gate_token_create(repository_id=repo.pk, label="deploy.yml", actor=people["admin"])[1]


def ask(client, token, sha=HEAD, repository=REPO, environment="production"):
    params = {"repository": repository, "sha": sha, "environment": environment}
    return client.get(URL, params, HTTP_AUTHORIZATION=f"Bearer {token}")


def decision(client, token, sha=HEAD):
    response = ask(client, token, sha)
    assert response.status_code == 200, response.content
    return response.json()


def test_no_record_of_the_commit_is_allowed(client, token):
    answer = decision(client, token)
    assert answer["decision"] == "allowed" and answer["bypass"] is None
    assert "no bypass is needed" in answer["reasons"][0]


def test_failing_required_checks_without_a_bypass_are_prevented(client, token, webhook_secret):
    failing_check(client, webhook_secret)
    answer = decision(client, token)
    assert answer["decision"] == "prevented" and "Octocoders-linter" in answer["reasons"][0]


def test_running_required_checks_are_pending(client, token, webhook_secret):
    send(client, webhook_secret, "check_run", webhook_example("check_run", "created"))  # queued
    assert decision(client, token)["decision"] == "pending"


def test_every_state_of_a_bypass(client, token, people, webhook_secret):
    failing_check(client, webhook_secret)
    bypass = request_bypass(people["dev"])
    answer = decision(client, token)
    assert answer["decision"] == "pending" and bypass.identifier in answer["reasons"][0]
    assert answer["bypass"]["scope"]["head_sha"] == HEAD and answer["bypass"]["status"] == "pending"

    bypass, scope = grant(bypass, people["lead"])
    answer = decision(client, token)
    assert answer["decision"] == "allowed" and "scoped to Codertocat/Hello-World#2" in answer["reasons"][0]
    assert answer["bypass"]["scope"]["checks"] == ["Octocoders-linter"] and answer["bypass"]["scope"]["expires_at"]

    synchronize(client, webhook_secret)
    answer = decision(client, token, NEW_HEAD)
    assert answer["decision"] == "pending" and "needs re-approval" in answer["reasons"][0]
    assert decision(client, token, HEAD)["decision"] == "allowed"  # what was granted stays granted

    github_scopes_expire(now=scope.expires_at + timedelta(seconds=1))
    answer = decision(client, token)
    assert answer["decision"] == "prevented" and "expired" in answer["reasons"][0]


def test_merged_and_reverted(client, token, people, webhook_secret):
    failing_check(client, webhook_secret)
    grant(request_bypass(people["dev"]), people["lead"])
    merged(client, webhook_secret)
    answer = decision(client, token, MERGE)
    assert answer["decision"] == "allowed" and answer["bypass"]["scope"]["merge_sha"] == MERGE
    reverted(client, webhook_secret)
    answer = decision(client, token, MERGE)
    assert answer["decision"] == "prevented" and "reverted" in answer["reasons"][0]


def test_rejected_and_withdrawn_bypasses_are_prevented(client, token, people, webhook_secret, make_user):
    failing_check(client, webhook_secret)
    bypass = request_bypass(people["dev"])
    bypass_reject(bypass_id=bypass.pk, signer=people["lead"], password=PASSWORD, role=Role.LEAD, reason="No.")
    answer = decision(client, token)
    assert answer["decision"] == "prevented" and "rejected" in answer["reasons"][0]
    GitHubBypassScope.objects.all().delete()
    bypass = request_bypass(people["dev"])
    bypass_withdraw(bypass_id=bypass.pk, actor=people["dev"], reason="Fixed the lint instead")
    assert decision(client, token)["decision"] == "prevented"


def test_an_unauthorised_merge_is_prevented(client, token, webhook_secret):
    failing_check(client, webhook_secret)
    merged(client, webhook_secret)
    answer = decision(client, token, MERGE)
    assert answer["decision"] == "prevented" and "Unauthorised bypass" in answer["reasons"][0]


def test_bad_parameters_get_field_errors(client, token):
    response = ask(client, token, sha="abc", environment="prod uction")
    assert response.status_code == 400
    assert set(problem_fields(response)) >= {"sha", "environment"}


def test_the_gate_token_answers_for_its_repository_only(client, token, people):
    other = link(people["admin"], "acme/payments")
    response = ask(client, token, repository=other.full_name)
    assert response.status_code == 403


def test_the_gate_token_can_do_nothing_else(client, token, repo, people):
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for url in ("/api/v1/emergencies/", "/api/v1/bypasses/", "/api/schema/"):
        assert client.get(url, **bearer).status_code == 401, url
    assert client.post("/api/v1/bypasses/", {}, content_type="application/json", **bearer).status_code == 401
    params = {"repository": REPO, "sha": HEAD, "environment": "production"}
    assert client.get(URL, params, HTTP_AUTHORIZATION=f"Token {token}").status_code == 401  # not an API token
    # pages need a session: the token is no sign-in
    assert client.get(reverse("emergencies:bypass-list"), **bearer).status_code == 302
    assert client.get("/admin/", **bearer).status_code == 302


def test_other_credentials_cannot_ask_the_gate(client, token, people):
    params = {"repository": REPO, "sha": HEAD, "environment": "production"}
    assert client.get(URL, params).status_code == 401
    _, secret = api_token(people["admin"])
    assert client.get(URL, params, HTTP_AUTHORIZATION=f"Token {secret}").status_code == 401
    client.force_login(people["admin"])
    assert client.get(URL, params).status_code == 401  # not even a superuser's session
    client.logout()
    assert ask(client, token + "x").status_code == 401


def test_a_revoked_token_is_refused(client, token, people):
    from emergencies.models.github import DeploymentGateToken

    revoked = deployment_gate_token_revoke(token_id=DeploymentGateToken.objects.get().pk, actor=people["admin"])
    assert revoked.revoked_at
    assert ask(client, token).status_code == 401


def test_only_an_administrator_creates_gate_tokens(repo, people):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        deployment_gate_token_create(repository_id=repo.pk, label="ci", actor=people["lead"])
