"""Hand-off requests through the API (issue 15): the page's predicate and services; the answer as the schema
says."""

import pytest

from emergencies.models import HandoffRequest
from tests.api_schema import assert_conforms, served_schema
from tests.emergencies.api.test_lifecycle import as_, people  # noqa: F401  (fixture)
from tests.factories import file_stub
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db


def test_ask_for_a_step_and_withdraw(people, client):  # noqa: F811
    change = file_stub(people["author"], commander=people["commander"])
    url = f"/api/v1/emergencies/{change.identifier}/handoffs/"
    author = as_(people["author"], token=True)
    # a read-only auditor may not ask; a person who cannot work on the change cannot be asked
    assert as_(people["auditor"]).post(url, {"kind": "hotfix_review"}, format="json").status_code in (403, 404)
    assert "assignee" in problem_fields(
        author.post(url, {"kind": "hotfix_review", "assignee": people["auditor"].username}, format="json")
    )
    assert "kind" in problem_fields(author.post(url, {"kind": "nothing"}, format="json"))
    assert not HandoffRequest.objects.exists()

    asked = author.post(url, {"kind": "hotfix_review", "assignee": "reviewer", "note": "Please"}, format="json")
    assert asked.status_code == 201, asked.content
    assert asked.json()["assignee"] == "reviewer" and asked.json()["status"] == "open"
    schema = served_schema(client, people["qms"])
    assert_conforms(schema, "POST", "/api/v1/emergencies/{identifier}/handoffs/", asked)

    withdraw = f"/api/v1/handoffs/{asked.json()['id']}/withdrawal/"
    # only the person who asked (or a QMS coordinator) withdraws it
    assert as_(people["reviewer"]).post(withdraw, {}, format="json").status_code == 403
    done = author.post(withdraw, {"reason": "Found someone"}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "withdrawn", done.content
    assert_conforms(schema, "POST", "/api/v1/handoffs/{id}/withdrawal/", done)
    assert author.post(withdraw, {}, format="json").status_code == 400  # already closed
