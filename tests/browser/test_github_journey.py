"""A required check fails on GitHub; a lead requests the bypass from the pull request's page, prefilled; the
approvers sign; and the worker puts ``qms/bypass`` success on that exact SHA (on a server that holds every
call to GitHub's REST description)."""

import json
import re
import time
import uuid

import httpx
import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from emergencies.models.github import GitHubPullRequest
from qms.celery import app
from qms.roles import Role
from tests.browser.conftest import screenshot
from tests.conftest import requires_redis
from tests.emergencies.conftest import github_api, webhook_secret  # noqa: F401  (fixtures)
from tests.emergencies.github_api import sign, webhook_example
from tests.emergencies.github_helpers import CHECK, HEAD, REPO, link

pytestmark = [pytest.mark.browser, pytest.mark.worker, requires_redis, pytest.mark.django_db(transaction=True)]


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def post_webhook(live_server, secret, event, payload):
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(body, secret),
    }
    response = httpx.post(f"{live_server.url}/integrations/github/webhook", content=body, headers=headers)
    assert response.status_code == 202, response.text


def test_failing_check_to_bypass_on_github(new_page, login, make_user, live_server, github_api, webhook_secret):  # noqa: F811
    admin = make_user(is_superuser=True, is_staff=True, username="root")
    make_user(Role.LEAD, username="lead", first_name="Lena", last_name="Lead")
    make_user(Role.ARCHITECT, username="architect", first_name="Arjun", last_name="Architect")
    make_user(Role.QMS, username="qms", first_name="Quinn", last_name="Coordinator")
    repo = link(admin)
    app.control.purge()
    with start_worker(app, perform_ping_check=False, shutdown_timeout=30):
        post_webhook(live_server, webhook_secret, "pull_request", webhook_example("pull_request", "opened"))
        post_webhook(live_server, webhook_secret, "check_run", webhook_example("check_run", "completed"))
        assert wait_for(lambda: GitHubPullRequest.objects.filter(repository=repo, number=2, title__gt="").exists())

        lead = login(new_page(), "lead")
        lead.goto(f"{live_server.url}/emergencies/github/{repo.pk}/pulls/2/")
        expect(lead.get_by_test_id("pull-failing")).to_contain_text(CHECK)
        lead.get_by_role("link", name="Request a bypass").click()
        expect(lead.get_by_test_id("github-scope")).to_contain_text(HEAD)
        expect(lead.get_by_label("Repository")).to_have_value(REPO)
        expect(lead.get_by_label("Pull request")).to_have_value("#2")
        expect(lead.get_by_label(re.compile(r"Code quality \(minor\)"))).to_be_checked()
        lead.get_by_role("radio", name="High").check()
        expect(lead.get_by_test_id("bypass-level")).to_contain_text("Level 2")
        lead.get_by_label("Impact assessment").fill("Lint rule misfires on generated code only")
        lead.get_by_label("Complexity score (1-10)").fill("2")
        lead.get_by_label(re.compile("Test-coverage impact")).fill("0")
        lead.get_by_label("Integration risk").fill("None: no runtime change")
        lead.get_by_label("Rollback feasibility").select_option("easy")
        lead.get_by_label("Business factors").fill("Release train leaves tonight")
        lead.get_by_label("Business justification").fill("Customer fix waits on this merge")
        lead.get_by_label("Stakeholder notification plan").fill("Post in #release")
        lead.get_by_label("Remediation plan").fill("Fix the lint rule for generated files")
        screenshot(lead, "journey-github-bypass-form")
        lead.get_by_role("button", name="Request bypass").click()
        expect(lead.get_by_test_id("bypass-id")).to_have_text(re.compile(r"^BYPASS-L2-\d{8}-\d{6}$"))
        identifier = lead.get_by_test_id("bypass-id").inner_text()
        expect(lead.get_by_test_id("github-sha")).to_have_text(HEAD)
        url = lead.url

        for username, role in (("architect", "Core architect"), ("qms", "QMS coordinator")):
            page = login(new_page(), username)
            page.goto(url)
            page.get_by_label("Signing as").select_option(label=role)
            page.get_by_label("Password").fill("pw-correct-horse")
            page.get_by_role("button", name="Approve and sign").click()
            expect(page.get_by_text("Signed.")).to_be_visible()

        def success_on_head():
            return [
                c
                for c in github_api.calls("repos/create-commit-status")
                if c["body"]["state"] == "success" and c["body"]["context"] == "qms/bypass"
            ]

        assert wait_for(lambda: success_on_head() and github_api.calls("issues/create"))
        (status,) = success_on_head()
        assert status["path"] == f"/repos/{REPO}/statuses/{HEAD}"
        assert identifier in status["body"]["description"]
        assert wait_for(lambda: len(github_api.calls("issues/add-labels")) == 1)

    lead.reload()
    expect(lead.get_by_test_id("bypass-status")).to_have_text("Active")
    expect(lead.get_by_test_id("github-call")).to_have_count(3)
    expect(lead.get_by_test_id("github-not-yet")).to_have_count(0)
    screenshot(lead, "journey-github-bypass-active")
