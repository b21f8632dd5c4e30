"""Draft → review → approval by two signers other than the author → publication → in force at its date."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audits.models import AuditEvent, Obligation
from qms.models import ProcedureDraft, ProcedureVersion, Signature
from qms.roles import Role
from qms.services import procedure_drafts as pd
from qms.services.procedures import procedure_version_current
from qms.tasks import procedure_versions_activate_task
from tests.factories import PASSWORD, file_stub
from tests.qms.procedures.helpers import EBW, approve_all, clock, draft_in_review

pytestmark = pytest.mark.django_db
Status = ProcedureDraft.Status


@pytest.fixture
def people(make_user):
    return {
        "author": make_user(Role.QMS),
        "qms2": make_user(Role.QMS),
        "quality": make_user(Role.QUALITY),
        "auditor": make_user(Role.AUDITOR),
        "oncall": make_user(Role.ONCALL),
        "commander": make_user(Role.COMMANDER, Role.QMS),
    }


def test_full_lifecycle_scheduled_version_takes_effect_at_its_date(people, time_machine):
    start = timezone.now().replace(microsecond=0)
    time_machine.move_to(start, tick=False)
    old = procedure_version_current(code=EBW)
    draft = draft_in_review(people["author"])
    assert draft.status == Status.IN_REVIEW
    assert "Post-mortem deadline: 72 h → 48 h." in pd.draft_diff(draft)
    # The author cannot approve their own draft, even holding an approver role.
    with pytest.raises(PermissionDenied, match="author"):
        pd.procedure_draft_approve(draft_id=draft.pk, signer=people["author"], password=PASSWORD, role=Role.QMS)
    pd.procedure_draft_approve(draft_id=draft.pk, signer=people["quality"], password=PASSWORD, role=Role.QUALITY)
    draft.refresh_from_db()
    assert draft.status == Status.IN_REVIEW and pd.draft_missing_roles(draft) == [Role.QMS]
    with pytest.raises(ValidationError):  # not approved yet
        pd.procedure_draft_publish(draft_id=draft.pk, actor=people["author"])
    draft = pd.procedure_draft_approve(draft_id=draft.pk, signer=people["qms2"], password=PASSWORD, role=Role.QMS)
    assert draft.status == Status.APPROVED
    assert Signature.objects.filter(subject_id=draft.pk, meaning="approved").count() == 2

    # Filed before publication: the old version and its deadlines.
    before = file_stub(people["oncall"])
    when = start + timedelta(days=2)
    draft = pd.procedure_draft_publish(draft_id=draft.pk, actor=people["author"], effective_from=when)
    assert draft.status == Status.SCHEDULED
    new = draft.published_version
    assert (new.version, new.effective_from) == (old.version + 1, when)
    # Published but not yet in force: filing still pins the old version.
    scheduled_meanwhile = file_stub(people["oncall"], title="Second outage")
    assert procedure_version_current(code=EBW) == old
    assert procedure_versions_activate_task() == 0

    time_machine.move_to(when + timedelta(seconds=1), tick=False)
    assert procedure_version_current(code=EBW) == new  # nobody acted
    after = file_stub(people["oncall"], title="Third outage")
    assert procedure_versions_activate_task() == 1
    draft.refresh_from_db()
    assert draft.status == Status.PUBLISHED
    assert AuditEvent.objects.filter(action="procedure.version_in_force").count() == 1

    for change in (before, scheduled_meanwhile):
        assert change.procedure_version == old
        assert next(c for c in change.rules.clocks("P1") if c.kind == "post_mortem").amount == 72
    assert after.procedure_version == new
    assert next(c for c in after.rules.clocks("P1") if c.kind == "post_mortem").amount == 48
    triage = {o.subject_id: o for o in Obligation.objects.filter(kind="triage")}
    assert triage[before.pk].due_at - before.declared_at == timedelta(minutes=30)
    assert triage[after.pk].due_at - after.declared_at == timedelta(minutes=20)
    old.refresh_from_db()
    assert old.effective_until == when


def test_publish_now(people):
    draft = approve_all(draft_in_review(people["author"]), people["quality"], people["qms2"])
    draft = pd.procedure_draft_publish(draft_id=draft.pk, actor=people["qms2"])
    assert draft.status == Status.PUBLISHED
    assert procedure_version_current(code=EBW) == draft.published_version
    assert AuditEvent.objects.filter(action="procedure.version_published").exists()


def test_who_may_approve(people, settings):
    draft = draft_in_review(people["author"])
    with pytest.raises(PermissionDenied):  # read-only
        pd.procedure_draft_approve(draft_id=draft.pk, signer=people["auditor"], password=PASSWORD, role=Role.AUDITOR)
    with pytest.raises(PermissionDenied):  # not an approver role
        pd.procedure_draft_approve(
            draft_id=draft.pk, signer=people["commander"], password=PASSWORD, role=Role.COMMANDER
        )
    with pytest.raises(PermissionDenied):  # claims a role they do not hold
        pd.procedure_draft_approve(draft_id=draft.pk, signer=people["qms2"], password=PASSWORD, role=Role.QUALITY)
    with pytest.raises(ValidationError, match="password"):
        pd.procedure_draft_approve(draft_id=draft.pk, signer=people["qms2"], password="wrong", role=Role.QMS)
    pd.procedure_draft_approve(draft_id=draft.pk, signer=people["qms2"], password=PASSWORD, role=Role.QMS)
    with pytest.raises(ValidationError, match="already approved"):  # one QMS coordinator is enough
        pd.procedure_draft_approve(draft_id=draft.pk, signer=people["commander"], password=PASSWORD, role=Role.QMS)
    assert Signature.objects.filter(subject_id=draft.pk).count() == 1


def test_one_person_cannot_fill_two_roles(people, make_user):
    both = make_user(Role.QMS, Role.QUALITY)
    draft = draft_in_review(people["author"])
    pd.procedure_draft_approve(draft_id=draft.pk, signer=both, password=PASSWORD, role=Role.QMS)
    with pytest.raises(PermissionDenied, match="already approved"):
        pd.procedure_draft_approve(draft_id=draft.pk, signer=both, password=PASSWORD, role=Role.QUALITY)


def test_approver_roles_are_configurable(people, settings, make_user):
    settings.QMS_PROCEDURE_APPROVER_ROLES = ["quality", "qms", "executive"]
    draft = approve_all(draft_in_review(people["author"]), people["quality"], people["qms2"])
    assert draft.status == Status.IN_REVIEW
    exec_ = make_user(Role.EXECUTIVE)
    draft = pd.procedure_draft_approve(draft_id=draft.pk, signer=exec_, password=PASSWORD, role=Role.EXECUTIVE)
    assert draft.status == Status.APPROVED


def test_who_may_draft_edit_and_submit(people):
    for outsider in (people["auditor"], people["oncall"]):
        with pytest.raises(PermissionDenied):
            pd.procedure_draft_start(procedure_code=EBW, actor=outsider)
    draft = pd.procedure_draft_start(procedure_code=EBW, actor=people["author"])
    with pytest.raises(PermissionDenied):  # another editor does not edit someone's draft
        pd.procedure_draft_update(draft_id=draft.pk, actor=people["qms2"], definition=draft.definition, change_note="x")
    with pytest.raises(PermissionDenied):
        pd.procedure_draft_submit(draft_id=draft.pk, actor=people["qms2"])
    with pytest.raises(ValidationError, match=r"Nothing changed|change_note"):
        pd.procedure_draft_submit(draft_id=draft.pk, actor=people["author"])


def test_an_invalid_definition_is_refused_naming_the_field_and_nothing_changes(people):
    draft = pd.procedure_draft_start(procedure_code=EBW, actor=people["author"])
    bad = {**draft.definition, "clocks": [dict(c) for c in draft.definition["clocks"]]}
    bad["clocks"][3]["amount"] = 0
    bad["stub_authorisers"] = {**bad["stub_authorisers"], "p1_incident": ["boss"]}
    with pytest.raises(ValidationError) as caught:
        pd.procedure_draft_update(draft_id=draft.pk, actor=people["author"], definition=bad, change_note="x")
    messages = caught.value.message_dict["definition"]
    assert any(m.startswith("clocks.post_mortem.amount") for m in messages)
    draft.refresh_from_db()
    assert clock(draft.definition, "post_mortem")["amount"] == 72


def test_editing_after_approval_needs_a_new_review(people):
    draft = approve_all(draft_in_review(people["author"]), people["quality"], people["qms2"])
    with pytest.raises(ValidationError):
        pd.procedure_draft_update(
            draft_id=draft.pk, actor=people["author"], definition=draft.definition, change_note="x"
        )
    pd.procedure_draft_return(draft_id=draft.pk, actor=people["quality"], reason="Keep 72 h for data breaches.")
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT and pd.draft_approvals(draft) == []
    pd.procedure_draft_submit(draft_id=draft.pk, actor=people["author"])
    draft.refresh_from_db()
    assert pd.draft_missing_roles(draft) == [Role.QUALITY, Role.QMS]  # earlier signatures lapsed


def test_a_draft_from_a_superseded_version_cannot_be_published(people):
    first = draft_in_review(people["author"])
    second = draft_in_review(people["qms2"], post_mortem=36)
    approve_all(first, people["quality"], people["qms2"])
    pd.procedure_draft_publish(draft_id=first.pk, actor=people["author"])
    approve_all(second, people["quality"], people["commander"])
    with pytest.raises(ValidationError, match="changed since"):
        pd.procedure_draft_publish(draft_id=second.pk, actor=people["qms2"])


def test_past_effective_dates_and_a_second_schedule_are_refused(people):
    draft = approve_all(draft_in_review(people["author"]), people["quality"], people["qms2"])
    with pytest.raises(ValidationError, match="past"):
        pd.procedure_draft_publish(
            draft_id=draft.pk, actor=people["author"], effective_from=timezone.now() - timedelta(hours=1)
        )
    count = ProcedureVersion.objects.count()
    pd.procedure_draft_publish(
        draft_id=draft.pk, actor=people["author"], effective_from=timezone.now() + timedelta(days=1)
    )
    assert ProcedureVersion.objects.count() == count + 1


def test_a_fifth_procedure_from_blank_or_copy(people):
    blank = pd.procedure_create(code="site-b", title="Site B emergency procedure", actor=people["author"])
    assert blank.base_version is None and blank.definition["summary"] == "Site B emergency procedure"
    copied = pd.procedure_create(code="site-c", title="Site C", actor=people["author"], copy_from="cm-wf-emergency")
    assert copied.definition == procedure_version_current(code="cm-wf-emergency").definition
    with pytest.raises(ValidationError):
        pd.procedure_create(code="site-b", title="Again", actor=people["author"])
    with pytest.raises(PermissionDenied):
        pd.procedure_create(code="site-d", title="D", actor=people["auditor"])
    pd.procedure_draft_update(draft_id=blank.pk, actor=people["author"], definition=blank.definition, change_note="New")
    pd.procedure_draft_submit(draft_id=blank.pk, actor=people["author"])
    approve_all(blank, people["quality"], people["qms2"])
    pd.procedure_draft_publish(draft_id=blank.pk, actor=people["author"])
    version = procedure_version_current(code="site-b")
    assert version.version == 1
    assert file_stub(people["oncall"], procedure_code="site-b").procedure_version == version
