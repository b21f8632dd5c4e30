"""POST /api/v1/github/{repository}/pulls/{number}/bypasses/: a bypass of a pull request's failing required
checks, from GitHub's own example deliveries (a pull request opened, a required check failed on its head)."""

from datetime import date, timedelta

import pytest
from rest_framework.test import APIClient

from audits.models import AuditEvent
from emergencies.models import BypassRequest
from emergencies.models.github import GitHubBypassScope
from qms.models import ApiToken
from qms.roles import Role
from tests.emergencies.github_helpers import CHECK, HEAD, REPO, failing_check, link, synchronize
from tests.factories import api_token
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db

BODY = {
    "production_impact": "low",
    "code_quality_only": True,
    "reason": "The linter misfires on generated code",
    "impact_assessment": "None",
    "risk_evaluation": "Low",
    "remediation_due": (date.today() + timedelta(days=1)).isoformat(),
    "head_sha": HEAD,
}


@pytest.fixture
def repo(make_user, client, webhook_secret):
    linked = link(make_user(is_superuser=True, is_staff=True, username="root"))
    failing_check(client, webhook_secret)
    return linked


def _api(user, scopes=None):
    client = APIClient(raise_request_exception=False)
    _, secret = api_token(user, scopes=scopes)
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def _url(repo, number=2):
    return f"/api/v1/github/{repo.pk}/pulls/{number}/bypasses/"


def test_a_bypass_of_the_failing_checks_scoped_to_the_head_commit(repo, make_user):
    oncall = make_user(Role.ONCALL, username="oncall")
    response = _api(oncall, [ApiToken.Scope.FILE_STUBS]).post(
        _url(repo), {**BODY, "repository": "someone/else", "pull_request": "#99"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    # the pull request decides the repository and number; the failing required check decides the checks
    assert (body["repository"], body["pull_request"], body["checks"]) == (REPO, "#2", ["code_quality_minor"])
    assert body["requested_by"] == "oncall" and body["id"].startswith("BYPASS-")
    scope = GitHubBypassScope.objects.get()
    assert (scope.head_sha, scope.checks, scope.bypass.identifier) == (HEAD, [CHECK], body["id"])
    bypass = BypassRequest.objects.get(identifier=body["id"])
    assert AuditEvent.objects.filter(subject_id__in=[body["id"], str(bypass.pk)]).exists()


def test_a_retried_request_files_one_bypass(repo, make_user):
    client = _api(make_user(Role.ONCALL))
    first = client.post(_url(repo), BODY, format="json", HTTP_IDEMPOTENCY_KEY="pull-2-once")
    again = client.post(_url(repo), BODY, format="json", HTTP_IDEMPOTENCY_KEY="pull-2-once")
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and BypassRequest.objects.count() == 1


def test_a_head_that_moved_is_refused_and_files_nothing(repo, make_user, client, webhook_secret):
    synchronize(client, webhook_secret)  # the real synchronize example: new commits on #2
    response = _api(make_user(Role.ONCALL)).post(_url(repo), BODY, format="json")
    assert response.status_code == 400 and "New commits" in response.content.decode()
    assert not BypassRequest.objects.exists() and not GitHubBypassScope.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"head_sha": "x" * 65}, "head_sha"),
        ({"head_sha": f"{HEAD}\x00"}, "head_sha"),
        ({"production_impact": "apocalyptic"}, "production_impact"),
        ({"checks": ["rm -rf"]}, "checks.0"),
        ({"reason": "x" * 100_001}, "reason"),
    ],
)
def test_hostile_values_are_a_400_naming_the_field(repo, make_user, change, field):
    response = _api(make_user(Role.ONCALL)).post(_url(repo), {**BODY, **change}, format="json")
    assert field in problem_fields(response)
    assert not BypassRequest.objects.exists()


def test_refused_to_a_reader_a_token_without_the_scope_and_anonymous(repo, make_user):
    auditor = _api(make_user(Role.AUDITOR)).post(_url(repo), BODY, format="json")
    assert auditor.status_code == 403
    read_only = _api(make_user(Role.ONCALL), [ApiToken.Scope.READ]).post(_url(repo), BODY, format="json")
    assert read_only.status_code == 403
    anonymous = APIClient().post(_url(repo), BODY, format="json")
    assert anonymous.status_code in (401, 403)
    assert not BypassRequest.objects.exists()


def test_an_unknown_pull_request_or_repository_is_404(repo, make_user):
    client = _api(make_user(Role.ONCALL))
    assert client.post(_url(repo, number=999), BODY, format="json").status_code == 404
    assert client.post(f"/api/v1/github/{repo.pk + 1000}/pulls/2/bypasses/", BODY, format="json").status_code == 404
    assert not BypassRequest.objects.exists()
