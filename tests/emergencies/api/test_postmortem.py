"""The post-mortem through the API (issue 15): start, update with If-Match, submit, reopen, approve by signature,
action items; the same services as the page, so the same permissions, separation of duties and signatures,
and answers as the schema says."""

from datetime import timedelta

import pytest
from django.utils import timezone

from emergencies.models import ActionItem, PostMortem
from qms.models import Signature
from tests.api_schema import assert_conforms, served_schema
from tests.emergencies.api.test_lifecycle import as_, people  # noqa: F401  (fixture)
from tests.emergencies.services.test_postincident import PM_FIELDS
from tests.factories import PASSWORD, authorise, deploy_and_resolve, file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db
PM = "/api/v1/emergencies/{identifier}/post-mortem/"


def url(change, tail=""):
    return f"/api/v1/emergencies/{change.identifier}/post-mortem/{tail}"


@pytest.fixture
def resolved(people):  # noqa: F811
    change = file_stub(people["author"], commander=people["commander"])
    authorise(change, people["commander"])
    return deploy_and_resolve(change, reviewer=people["reviewer"], commander=people["commander"])


def test_start_update_submit_approve(people, resolved, client):  # noqa: F811
    schema = served_schema(client, people["qms"])
    author = as_(people["author"], token=True)
    assert author.get(url(resolved)).status_code == 404  # none yet
    started = author.post(url(resolved), format="json")
    assert started.status_code == 201 and started.json()["status"] == "draft", started.content
    assert_conforms(schema, "POST", PM, started)
    assert author.post(url(resolved), format="json").json()["id"] == started.json()["id"]  # starts once

    # incomplete: submission refused with what is missing, nothing changes
    refused = author.post(url(resolved, "submission/"), format="json")
    assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json"
    assert PostMortem.objects.get(change=resolved).status == "draft"

    read = author.get(url(resolved))
    assert_conforms(schema, "GET", PM, read)
    # a stale If-Match is refused (412) and writes nothing; the current one goes through
    stale = author.patch(url(resolved), {"why_1": "stale"}, format="json", HTTP_IF_MATCH='"0000"')
    assert stale.status_code == 412 and PostMortem.objects.get(change=resolved).why_1 != "stale"
    updated = author.patch(
        url(resolved),
        {**PM_FIELDS, "timeline_text": "2026-11-23 02:40 Incident detected"},
        format="json",
        HTTP_IF_MATCH=read["ETag"],
    )
    assert updated.status_code == 200, updated.content
    assert_conforms(schema, "PATCH", PM, updated)
    assert updated.json()["why_1"] == PM_FIELDS["why_1"] and updated.json()["timeline"]
    assert "why_1" in problem_fields(author.patch(url(resolved), {"why_1": "x" * 30000}, format="json"))

    submitted = author.post(url(resolved, "submission/"), format="json")
    assert submitted.status_code == 200 and submitted.json()["status"] == "in_review", submitted.content

    # the author never approves their own post-mortem; a wrong password signs nothing
    own = author.post(url(resolved, "signatures/"), {"role": "oncall", "password": PASSWORD}, format="json")
    assert own.status_code in (400, 403) and not Signature.objects.filter(signer=people["author"]).exists()
    commander = as_(people["commander"], token=True)
    wrong = commander.post(url(resolved, "signatures/"), {"role": "commander", "password": "nope"}, format="json")
    assert wrong.status_code in (400, 403) and PostMortem.objects.get(change=resolved).status == "in_review"
    approved = commander.post(url(resolved, "signatures/"), {"role": "commander", "password": PASSWORD}, format="json")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved" and approved.json()["signatures"][0]["signer"] == "ic"
    assert_conforms(schema, "POST", PM + "signatures/", approved)


def test_reopen_needs_a_reason(people, resolved):  # noqa: F811
    author = as_(people["author"])
    author.post(url(resolved), format="json")
    author.patch(url(resolved), {**PM_FIELDS, "timeline_text": "2026-11-23 02:40 Detected"}, format="json")
    assert author.post(url(resolved, "submission/"), format="json").status_code == 200
    assert "reason" in problem_fields(author.post(url(resolved, "reopening/"), {"reason": ""}, format="json"))
    reopened = author.post(url(resolved, "reopening/"), {"reason": "The timeline misses the rollback."}, format="json")
    assert reopened.status_code == 200 and reopened.json()["status"] == "draft"


def test_action_items_and_their_status(people, resolved):  # noqa: F811
    author = as_(people["author"], token=True)
    author.post(url(resolved), format="json")
    due = (timezone.now() + timedelta(days=14)).date().isoformat()
    past = (timezone.now() - timedelta(days=1)).date().isoformat()
    assert "due_date" in problem_fields(
        author.post(
            url(resolved, "action-items/"), {"action": "x", "owner": "reviewer", "due_date": past}, format="json"
        )
    )
    added = author.post(
        url(resolved, "action-items/"),
        {"action": "Alert on expiry", "owner": "reviewer", "due_date": due},
        format="json",
    )
    assert added.status_code == 201 and added.json()["action_items"][0]["owner"] == "reviewer", added.content
    item = ActionItem.objects.get(post_mortem__change=resolved)
    # the owner may update it; a read-only auditor may not
    auditor = as_(people["auditor"])
    refused = auditor.post(url(resolved, f"action-items/{item.pk}/status/"), {"status": "done"}, format="json")
    assert refused.status_code in (403, 404) and ActionItem.objects.get(pk=item.pk).status == "pending"
    owner = as_(people["reviewer"])
    done = owner.post(url(resolved, f"action-items/{item.pk}/status/"), {"status": "done"}, format="json")
    assert done.status_code == 200 and ActionItem.objects.get(pk=item.pk).status == "done"
    other = author.post(url(resolved, "action-items/999999/status/"), {"status": "done"}, format="json")
    assert other.status_code == 404


def test_a_read_only_auditor_or_a_read_only_token_cannot_write(people, resolved):  # noqa: F811
    assert as_(people["auditor"]).post(url(resolved), format="json").status_code in (403, 404)
    read_only = as_(people["author"], token=True, scopes=["read"])
    assert read_only.post(url(resolved), format="json").status_code == 403
    assert not PostMortem.objects.filter(change=resolved).exists()
    as_(people["author"]).post(url(resolved), format="json")
    assert as_(people["auditor"]).patch(url(resolved), {"why_1": "x"}, format="json").status_code in (403, 404)
    assert PostMortem.objects.get(change=resolved).why_1 != "x"
