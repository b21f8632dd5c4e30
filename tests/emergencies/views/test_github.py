"""The webhook receiver: signed, fresh deliveries of linked repositories only, stored, handled once on the
worker; each handled event kind from GitHub's own example payloads."""

import json
import re
import uuid
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from emergencies.models.github import GitHubCommitCheck, GitHubDelivery, GitHubPullRequest
from emergencies.services.github import HANDLED_EVENTS, github_delivery_process, github_delivery_replay
from qms.roles import Role
from tests.emergencies.github_api import deliver, sign, validate_webhook, webhook_example, webhook_examples
from tests.emergencies.github_helpers import CHECK, HEAD, REPO, failing_check, link, send

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user(is_superuser=True, is_staff=True, username="root")


@pytest.fixture
def repo(admin):
    return link(admin)


def test_unsigned_delivery_is_refused_and_not_stored(client, repo, webhook_secret):
    response = deliver(client, "check_run", webhook_example("check_run", "completed"), secret=None)
    assert response.status_code == 401
    assert "missing" in response.json()["detail"]
    assert not GitHubDelivery.objects.exists()


def test_wrong_signature_is_refused(client, repo, webhook_secret):
    response = deliver(client, "check_run", webhook_example("check_run", "completed"), secret="not the secret")
    assert response.status_code == 401
    # a signature of another body (the real one, then the body altered) is refused as well
    payload = webhook_example("check_run", "completed")
    body = json.dumps(payload).encode()
    response = client.post(
        "/integrations/github/webhook",
        data=body.replace(b"failure", b"success"),
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="check_run",
        HTTP_X_GITHUB_DELIVERY=str(uuid.uuid4()),
        HTTP_X_HUB_SIGNATURE_256=sign(body, webhook_secret),
    )
    assert response.status_code == 401
    assert not GitHubDelivery.objects.exists()


def test_replayed_delivery_is_refused(client, repo, webhook_secret):
    payload = webhook_example("check_run", "completed")
    delivery_id = str(uuid.uuid4())
    assert deliver(client, "check_run", payload, secret=webhook_secret, delivery_id=delivery_id).status_code == 202
    again = deliver(client, "check_run", payload, secret=webhook_secret, delivery_id=delivery_id)
    assert again.status_code == 409
    assert "replay" in again.json()["detail"]
    assert GitHubDelivery.objects.count() == 1


def test_unlinked_repository_and_missing_secret_are_refused(client, repo, settings, webhook_secret):
    response = deliver(client, "check_run", webhook_example("check_run", "rerequested"), secret=webhook_secret)
    assert response.status_code == 403  # github/hello-world is not linked
    settings.GITHUB_WEBHOOK_SECRET = ""
    response = deliver(client, "check_run", webhook_example("check_run", "completed"), secret="")
    assert response.status_code == 503
    assert not GitHubDelivery.objects.exists()


def test_ping_is_answered_without_being_stored(client, webhook_secret):
    response = deliver(client, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1}, secret=webhook_secret)
    assert response.status_code == 200 and response.json() == {"detail": "pong"}
    assert not GitHubDelivery.objects.exists()


def test_every_example_of_every_handled_event_is_stored_and_handled_once(client, admin, webhook_secret):
    names = {x["repository"]["full_name"] for e in HANDLED_EVENTS for x in webhook_examples(e)}
    for name in sorted(names):
        link(admin, name)
    count = 0
    for event in HANDLED_EVENTS:
        for payload in webhook_examples(event):
            send(client, webhook_secret, event, payload)
            count += 1
    assert GitHubDelivery.objects.filter(processed_at__isnull=False, error="").count() == count == 58
    # the worker running a delivery again changes nothing
    first = GitHubDelivery.objects.order_by("pk").first()
    assert github_delivery_process(delivery_pk=first.pk).attempts == 1
    assert GitHubPullRequest.objects.filter(repository__full_name=REPO, number=2).exists()
    assert GitHubPullRequest.objects.filter(repository__full_name="electron/electron", number=26764).exists()
    statuses = GitHubCommitCheck.objects.filter(source="status", name="default", conclusion="success")
    # the status examples' sha is not master's head (f95f852…): not evidence from the default branch
    assert statuses.exists() and not statuses.filter(on_default_branch=True).exists()
    suites = GitHubCommitCheck.objects.filter(source="check_suite")
    assert suites.exists()


def test_a_failing_required_check_offers_a_prefilled_bypass_on_the_pull_request_page(
    client, repo, webhook_secret, make_user
):
    failing_check(client, webhook_secret)
    pull = GitHubPullRequest.objects.get(repository=repo, number=2)
    assert pull.head_sha == HEAD and pull.title == "Update the README with new information."
    check = GitHubCommitCheck.objects.get(repository=repo, sha=HEAD, name=CHECK)
    assert check.failed and check.source == "check_run"

    client.force_login(make_user(Role.LEAD))
    page = client.get(reverse("emergencies:github-pull", args=[repo.pk, 2]))
    assert page.status_code == 200
    assert f"Failing required checks: {CHECK}" in page.content.decode()
    form_url = reverse("emergencies:github-pull-bypass", args=[repo.pk, 2])
    assert form_url in page.content.decode()
    form = client.get(form_url).content.decode()
    assert f'value="{REPO}"' in form and 'value="#2"' in form
    assert f'name="head_sha" value="{HEAD}"' in form
    boxes = {
        m.group(1): "checked" in m.group(0) for m in re.finditer(r'<input[^>]*name="checks" value="(\w+)"[^>]*>', form)
    }
    assert boxes["code_quality_minor"] is True and boxes["documentation_coverage"] is False


def test_a_failing_commit_status_counts_like_a_failing_check(client, repo, webhook_secret):
    send(client, webhook_secret, "pull_request", webhook_example("pull_request", "opened"))
    example = webhook_example("status", index=0)
    payload = {**example, "state": "failure", "sha": HEAD, "description": "3 files need formatting"}
    validate_webhook("status", payload, example=example)
    send(client, webhook_secret, "status", payload)
    assert GitHubCommitCheck.objects.get(repository=repo, sha=HEAD, name="default").failed
    # the portal's own status coming back is not a check
    own = {**payload, "context": "qms/bypass", "state": "success"}
    send(client, webhook_secret, "status", own)
    assert not GitHubCommitCheck.objects.filter(name="qms/bypass").exists()


def test_a_delivery_that_fails_keeps_its_error_and_is_replayed_from_the_admin(client, repo, webhook_secret, admin):
    payload = webhook_example("check_run", "completed")
    del payload["check_run"]["head_sha"]  # a payload the handler cannot use
    response = deliver(client, "check_run", payload, secret=webhook_secret)
    delivery = GitHubDelivery.objects.get(delivery_id=response.json()["delivery"])
    github_delivery_process(delivery_pk=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.processed_at is None and "head_sha" in delivery.error
    assert not GitHubCommitCheck.objects.exists()  # nothing half-written
    delivery.payload = webhook_example("check_run", "completed")  # e.g. a handler fixed since
    delivery.save()
    client.force_login(admin)
    response = client.post(
        reverse("admin:emergencies_githubdelivery_changelist"),
        {"action": "replay", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.processed_at is not None and delivery.attempts == 2
    assert GitHubCommitCheck.objects.filter(name=CHECK).exists()


def test_only_an_administrator_replays(repo, make_user):
    delivery = GitHubDelivery.objects.create(
        delivery_id="x", event="push", repository=repo, payload={}, received_at="2026-12-01T00:00:00Z"
    )
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        github_delivery_replay(delivery_pk=delivery.pk, actor=make_user(Role.QMS))


@pytest.mark.parametrize(
    ("role", "page", "form"),
    [(Role.LEAD, 200, 200), (Role.ONCALL, 200, 200), (Role.AUDITOR, 200, 403), (Role.QMS, 200, 403), (None, 404, 404)],
)
def test_pull_request_pages_by_role(client, repo, webhook_secret, make_user, role, page, form):
    failing_check(client, webhook_secret)
    client.force_login(make_user(role) if role else make_user())
    assert client.get(reverse("emergencies:github-pull", args=[repo.pk, 2])).status_code == page
    assert client.get(reverse("emergencies:github-pull-bypass", args=[repo.pk, 2])).status_code == form
    assert client.post(reverse("emergencies:github-pull-bypass", args=[repo.pk, 2]), {}).status_code == (
        400 if form == 200 else form
    )


def test_the_prefilled_form_requests_a_bypass_scoped_to_the_head_sha(client, repo, webhook_secret, make_user):
    from emergencies.models.github import GitHubBypassScope

    failing_check(client, webhook_secret)
    client.force_login(make_user(Role.ONCALL))
    data = {
        "repository": "someone/else",  # the pull request decides, not the form
        "pull_request": "#99",
        "production_impact": "low",
        "code_quality_only": "on",
        "checks": ["code_quality_minor"],
        "reason": "Lint misfires",
        "impact_assessment": "None",
        "risk_evaluation": "Low",
        "remediation_due": (date.today() + timedelta(days=1)).isoformat(),
        "head_sha": HEAD,
    }
    url = reverse("emergencies:github-pull-bypass", args=[repo.pk, 2])
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    scope = GitHubBypassScope.objects.get()
    assert (scope.head_sha, scope.checks) == (HEAD, [CHECK])
    assert (scope.bypass.repository, scope.bypass.pull_request) == (REPO, "#2")
    # a stale form (another head) is refused and writes nothing
    stale = client.post(url, {**data, "head_sha": "0" * 40})
    assert stale.status_code == 400 and "New commits" in stale.content.decode()
    assert GitHubBypassScope.objects.count() == 1


def test_the_dashboard_lists_pull_requests_with_failing_required_checks(client, repo, webhook_secret, make_user):
    failing_check(client, webhook_secret)
    client.force_login(make_user(Role.ONCALL))
    page = client.get(reverse("qms:dashboard")).content.decode()
    assert 'data-testid="github-failing"' in page and f"{REPO}#2" in page
    client.force_login(make_user(Role.AUDITOR))  # not a requester
    assert 'data-testid="github-failing"' not in client.get(reverse("qms:dashboard")).content.decode()


def test_an_administrator_links_a_repository_in_the_admin(client, admin):
    from audits.models import AuditEvent
    from emergencies.models.github import GitHubRepository

    client.force_login(admin)
    url = reverse("admin:emergencies_githubrepository_add")
    data = {
        "full_name": "acme/payments",
        "required_checks": '{"ci / lint": "code_quality_minor"}',
        "procedure_code": "emergency-bypass-workflow",
        "default_branch": "main",
        "installation_id": "42",
        "active": "on",
    }
    assert client.post(url, data).status_code == 302
    repository = GitHubRepository.objects.get(full_name="acme/payments")
    assert repository.required_checks == {"ci / lint": "code_quality_minor"} and repository.linked_by == admin
    assert AuditEvent.objects.filter(action="github.repository_linked", subject_id=str(repository.pk)).exists()
    response = client.post(
        reverse("admin:emergencies_githubrepository_changelist"),
        {"action": "create_gate_token", "_selected_action": [repository.pk]},
        follow=True,
    )
    assert "qmsgate_" in response.content.decode()
    assert AuditEvent.objects.filter(action="github.gate_token_created", subject_id=str(repository.pk)).exists()


def test_the_admin_tells_a_wrong_check_mapping_and_links_nothing(client, admin):
    from emergencies.models.github import GitHubRepository

    client.force_login(admin)
    url = reverse("admin:emergencies_githubrepository_add")
    data = {"full_name": "acme/x", "required_checks": '{"lint": "nope"}', "procedure_code": "emergency-bypass-workflow"}
    response = client.post(url, {**data, "default_branch": "main", "active": "on"})
    assert response.status_code == 200
    assert "Not a check of the procedure emergency-bypass-workflow: nope" in response.content.decode()
    assert not GitHubRepository.objects.exists()


# the dashboard's 12th: the delegations lent to the user (their waiting list includes what waits on a delegate)
PULL_BUDGETS = (7, 12)


@pytest.mark.parametrize("many", [False, True])
def test_pull_request_page_and_dashboard_query_budgets(
    client, repo, webhook_secret, make_user, django_assert_max_num_queries, many
):
    from django.utils import timezone

    failing_check(client, webhook_secret)
    if many:
        for number in range(3, 40):
            pull = GitHubPullRequest.objects.create(
                repository=repo, number=number, head_sha=f"{number:040x}", updated_at=timezone.now()
            )
            for name in (CHECK, "default", f"extra-{number}"):
                GitHubCommitCheck.objects.create(
                    repository=repo,
                    sha=pull.head_sha,
                    name=name,
                    conclusion="failure",
                    source="check_run",
                    updated_at=timezone.now(),
                )
    client.force_login(make_user(Role.LEAD))
    client.get(reverse("qms:dashboard"))  # the session's first request writes it
    with CaptureQueriesContext(connection) as page:
        assert client.get(reverse("emergencies:github-pull", args=[repo.pk, 2])).status_code == 200
    with CaptureQueriesContext(connection) as dashboard:
        response = client.get(reverse("qms:dashboard"))
    assert response.status_code == 200 and response.content.decode().count("failing at") == (10 if many else 1)
    # the same number of queries for 1 and for 38 failing pull requests
    assert (len(page), len(dashboard)) == PULL_BUDGETS


def test_a_delivery_arriving_while_the_broker_is_down_is_stored_and_handled_by_the_beat_job(
    client, repo, webhook_secret, celery_on, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from emergencies.tasks import github_deliveries_pending_task
    from tests.conftest import _free_port

    celery_on(f"redis://127.0.0.1:{_free_port()}/0")  # nothing listens there
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(client, "check_run", webhook_example("check_run", "completed"), secret=webhook_secret)
    assert response.status_code == 202
    delivery = GitHubDelivery.objects.get()
    assert delivery.processed_at is None
    assert github_deliveries_pending_task() == 0  # not before the broker had its chance
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        assert github_deliveries_pending_task() == 1
        assert github_deliveries_pending_task() == 0
    delivery.refresh_from_db()
    assert delivery.processed_at is not None
    assert GitHubCommitCheck.objects.get(name=CHECK).failed
