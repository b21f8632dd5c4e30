"""The document-control writes through /api/v1/procedure-drafts/: the same services, the same refusals."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from qms.models import ApiToken, ProcedureDraft, ProcedureVersion
from qms.procedures.yaml import definition_to_yaml
from qms.roles import Role
from qms.services.procedures import procedure_version_current
from tests.factories import PASSWORD, api_token
from tests.problems import problem_fields
from tests.qms.procedures.helpers import EBW, shortened

pytestmark = pytest.mark.django_db


def client_for(user, scopes=None):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user, scopes=scopes)[1]}")
    return api


@pytest.fixture
def people(make_user):
    return {r: make_user(role) for r, role in (("author", Role.QMS), ("qms2", Role.QMS), ("quality", Role.QUALITY))}


def test_draft_review_approve_publish_through_the_api(people):
    author = client_for(people["author"])
    created = author.post("/api/v1/procedure-drafts/", {"procedure": EBW}, format="json")
    assert created.status_code == 201, created.json()
    draft = created.json()
    assert draft["status"] == "draft" and draft["base_version"] == 1
    url = f"/api/v1/procedure-drafts/{draft['id']}/"
    edited = author.patch(
        url,
        {"definition_yaml": definition_to_yaml(shortened(draft["definition"])), "change_note": "48 h post-mortem"},
        format="json",
    )
    assert edited.status_code == 200, edited.json()
    assert "Post-mortem deadline: 72 h → 48 h." in edited.json()["changes"]
    assert author.post(url + "submission/", format="json").json()["status"] == "in_review"
    refused = author.post(url + "signatures/", {"role": "qms", "password": PASSWORD}, format="json")
    assert refused.status_code == 403
    for who, role in (("quality", "quality"), ("qms2", "qms")):
        signed = client_for(people[who]).post(url + "signatures/", {"role": role, "password": PASSWORD}, format="json")
        assert signed.status_code == 200, signed.json()
    assert signed.json()["status"] == "approved" and len(signed.json()["signatures"]) == 2
    when = (timezone.now() + timedelta(days=1)).isoformat()
    published = author.post(url + "publication/", {"effective_from": when}, format="json")
    assert published.status_code == 200, published.json()
    assert published.json()["status"] == "scheduled" and published.json()["published_version"] == 2
    assert procedure_version_current(code=EBW).version == 1


def test_refusals(people, make_user):
    auditor = client_for(make_user(Role.AUDITOR))
    assert auditor.post("/api/v1/procedure-drafts/", {"procedure": EBW}, format="json").status_code == 403
    assert auditor.get("/api/v1/procedure-drafts/").status_code == 200
    no_scope = client_for(people["author"], scopes=[ApiToken.Scope.READ])
    assert no_scope.post("/api/v1/procedure-drafts/", {"procedure": EBW}, format="json").status_code == 403
    assert not ProcedureDraft.objects.exists()
    author = client_for(people["author"])
    draft = author.post("/api/v1/procedure-drafts/", {"procedure": EBW}, format="json").json()
    url = f"/api/v1/procedure-drafts/{draft['id']}/"
    bad = author.patch(url, {"definition": {**draft["definition"], "day_basis": "lunar"}}, format="json")
    assert bad.status_code == 400
    assert any("day_basis" in m for m in problem_fields(bad)["definition"])
    bad_yaml = author.patch(url, {"definition_yaml": "clocks: [unclosed"}, format="json")
    assert bad_yaml.status_code == 400
    other = client_for(people["qms2"])
    assert other.patch(url, {"change_note": "mine"}, format="json").status_code == 403
    assert ProcedureDraft.objects.get().definition["day_basis"] == "calendar"
    assert author.post(url + "publication/", {}, format="json").status_code == 400
    assert ProcedureVersion.objects.filter(procedure__code=EBW).count() == 1


def test_import_yaml_and_new_procedure_through_the_api(people):
    out = io.StringIO()
    call_command("procedure_export", "eng-proc-004", stdout=out)
    author = client_for(people["author"])
    imported = author.post("/api/v1/procedure-drafts/", {"yaml": out.getvalue()}, format="json")
    assert imported.status_code == 201 and imported.json()["procedure"] == "eng-proc-004"
    new = author.post(
        "/api/v1/procedure-drafts/", {"procedure": "site-b", "title": "Site B", "copy_from": EBW}, format="json"
    )
    assert new.status_code == 201 and new.json()["base_version"] is None
