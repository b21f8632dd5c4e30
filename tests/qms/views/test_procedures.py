"""The document-control pages: start a draft, edit it as YAML, submit, approve by signature, publish; the change
page names its version and links to it."""

import pytest
from django.urls import reverse

from qms.models import ProcedureDraft
from qms.procedures.yaml import definition_to_yaml
from qms.roles import Role
from qms.services.procedures import procedure_version_current
from tests.factories import PASSWORD, file_stub
from tests.qms.procedures.helpers import EBW, shortened

pytestmark = pytest.mark.django_db


def test_the_editor_flow_on_the_pages(client, make_user):
    author, quality, qms2 = make_user(Role.QMS), make_user(Role.QUALITY), make_user(Role.QMS)
    oncall = make_user(Role.ONCALL)
    old_change = file_stub(oncall)
    client.force_login(author)
    assert client.get(reverse("qms:procedure-list")).status_code == 200
    response = client.post(reverse("qms:procedure-draft-start", args=[EBW]))
    draft = ProcedureDraft.objects.get()
    assert response.url == reverse("qms:procedure-draft", args=[draft.pk])
    page = client.get(response.url).content.decode()
    assert "definition_yaml" in page
    url = reverse("qms:procedure-draft-edit", args=[draft.pk])
    # A definition the engine cannot run is refused naming the field; the text typed is kept on the page.
    bad = definition_to_yaml(shortened(draft.definition, post_mortem=0))
    page = client.post(url, {"definition_yaml": bad, "change_note": "48 h"}, follow=True).content.decode()
    assert "clocks.post_mortem.amount" in page and "amount: 0" in page
    good = definition_to_yaml(shortened(draft.definition))
    client.post(url, {"definition_yaml": good, "change_note": "Post-mortem within 48 hours."})
    action = reverse("qms:procedure-draft-action", args=[draft.pk])
    client.post(action, {"action": "submit"})
    page = client.get(reverse("qms:procedure-draft", args=[draft.pk])).content.decode()
    assert "Post-mortem deadline: 72 h → 48 h." in page
    # The author's own signature is refused.
    approve = reverse("qms:procedure-draft-approve", args=[draft.pk])
    assert client.post(approve, {"role": "qms", "password": PASSWORD}).status_code == 403
    for signer, role in ((quality, "quality"), (qms2, "qms")):
        client.force_login(signer)
        assert client.post(approve, {"role": role, "password": PASSWORD}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == ProcedureDraft.Status.APPROVED
    client.force_login(author)
    client.post(action, {"action": "publish", "effective_from": ""})
    draft.refresh_from_db()
    assert draft.status == ProcedureDraft.Status.PUBLISHED
    new_change = file_stub(oncall, title="Later outage")
    assert new_change.procedure_version == procedure_version_current(code=EBW) == draft.published_version
    client.force_login(oncall)
    for change, version in ((old_change, 1), (new_change, 2)):
        page = client.get(change.get_absolute_url()).content.decode()
        assert reverse("qms:procedure-version", args=[EBW, version]) in page
    page = client.get(reverse("qms:procedure-version", args=[EBW, 2])).content.decode()
    assert "Post-mortem: 48 hours" in page and "Post-mortem deadline: 72 h → 48 h." in page
    assert "Post-mortem: 72 hours" in client.get(reverse("qms:procedure-version", args=[EBW, 1])).content.decode()
    yaml = client.get(reverse("qms:procedure-version", args=[EBW, 2]) + "?format=yaml")
    assert yaml["Content-Type"].startswith("application/yaml") and b"amount: 48" in yaml.content


def test_outsiders_are_refused(client, make_user):
    client.force_login(make_user(Role.AUDITOR))
    assert client.post(reverse("qms:procedure-draft-start", args=[EBW])).status_code == 403
    assert not ProcedureDraft.objects.exists()


def test_the_change_list_filters_by_procedure_version(client, make_user):
    oncall = make_user(Role.ONCALL)
    file_stub(oncall, title="Under the workflow")
    eng = file_stub(oncall, title="Under ENG-PROC-004", procedure_code="eng-proc-004")
    client.force_login(oncall)
    page = client.get(reverse("emergencies:change-list"), {"procedure_version": eng.procedure_version_id})
    text = page.content.decode()
    assert "Under ENG-PROC-004" in text and "Under the workflow" not in text
    assert client.get(reverse("emergencies:change-list"), {"procedure_version": "x' or 1=1"}).status_code == 200
