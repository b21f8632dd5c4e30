"""Training records: recorded by a QMS coordinator or imported from CSV (all rows or none), append-only,
shown on the training matrix; a certification lapsing within 30 days is a clock on its holder."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, transaction
from django.urls import reverse
from django.utils import timezone

from audits.clocks import kind_of
from audits.models import AuditEvent, Obligation
from audits.receivers.training import training_expiry_sweep
from qms.models import ApiToken, TrainingRecord
from qms.people.selectors import training_matrix
from qms.roles import Role
from qms.services.tokens import api_token_create
from qms.services.training import TrainingInput, add_months, training_record_create, training_records_import
from tests.conftest import is_postgres
from tests.factories import certify

pytestmark = pytest.mark.django_db


@pytest.fixture
def trainee(make_user):
    return make_user(Role.COMMANDER, username="trainee", first_name="Tia", last_name="Trainee", trained=False)


def record(trainee, actor, course="incident_response_protocols", **kwargs):
    values = {"completed_on": timezone.localdate(), "evidence_reference": "LMS-1", **kwargs}
    return training_record_create(data=TrainingInput(user=trainee, course=course, **values), actor=actor)


def test_a_coordinator_records_a_training_with_its_validity_and_an_audit_event(trainee, qms_coordinator):
    made = record(trainee, qms_coordinator, course="tabletop_exercise", completed_on=date(2026, 8, 31))
    assert made.expires_on == date(2027, 2, 28)  # semi-annual, end of month kept in range
    assert made.recorded_by == qms_coordinator and made.source == TrainingRecord.Source.RECORDED
    event = AuditEvent.objects.get(action="training.recorded")
    assert event.after["course"] == "tabletop_exercise" and event.actor == qms_coordinator
    assert add_months(date(2026, 1, 31), 12) == date(2027, 1, 31)


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.COMMANDER, Role.SECURITY, None])
def test_only_a_qms_coordinator_records_training(make_user, trainee, role):
    actor = make_user(*([role] if role else []), username="actor")
    with pytest.raises(PermissionDenied):
        record(trainee, actor)
    assert not TrainingRecord.objects.filter(user=trainee).exists()


def test_nobody_certifies_themselves(qms_coordinator):
    with pytest.raises(ValidationError) as exc:
        record(qms_coordinator, qms_coordinator)
    assert "user" in exc.value.message_dict


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"course": "basket_weaving"}, "course"),
        ({"completed_on": date(2099, 1, 1)}, "completed_on"),
        ({"expires_on": date(2000, 1, 1)}, "expires_on"),
        ({"evidence_reference": ""}, "evidence_reference"),
        ({"evidence_reference": "x" * 600}, "evidence_reference"),
        ({"note": "<script>" * 1000}, "note"),
    ],
)
def test_bad_records_are_refused_with_a_field_error(trainee, qms_coordinator, overrides, field):
    course = overrides.pop("course", "incident_response_protocols")
    with pytest.raises(ValidationError) as exc:
        record(trainee, qms_coordinator, course=course, **overrides)
    assert field in exc.value.message_dict
    assert not TrainingRecord.objects.exists() or not TrainingRecord.objects.filter(user=trainee).exists()


@pytest.mark.skipif(not is_postgres(), reason="the append-only trigger is PostgreSQL's")
def test_training_records_are_append_only(trainee, qms_coordinator):
    made = record(trainee, qms_coordinator)
    with pytest.raises(DatabaseError), transaction.atomic():
        TrainingRecord.objects.filter(pk=made.pk).update(expires_on=date(2099, 1, 1))
    with pytest.raises(DatabaseError), transaction.atomic():
        TrainingRecord.objects.filter(pk=made.pk).delete()


CSV_OK = """username,course,completed_on,expires_on,evidence_reference,note
trainee,incident_response_protocols,2026-11-01,,CERT-1,
trainee,tabletop_exercise,2026-10-01,2027-04-01,TTX-9,annual drill
"""


def test_a_csv_import_records_every_row(trainee, qms_coordinator):
    created = training_records_import(text=CSV_OK, actor=qms_coordinator)
    assert len(created) == 2
    assert {r.source for r in TrainingRecord.objects.filter(user=trainee)} == {TrainingRecord.Source.IMPORTED}
    assert AuditEvent.objects.filter(action="training.recorded").count() == 2


def test_a_csv_with_one_bad_row_imports_nothing_and_names_each_bad_row(trainee, qms_coordinator):
    text = CSV_OK + "nobody,incident_response_protocols,2026-11-01,,C,\ntrainee,x,31/12/2026,,,\n"
    with pytest.raises(ValidationError) as exc:
        training_records_import(text=text, actor=qms_coordinator)
    messages = exc.value.message_dict["file"]
    assert messages[0] == "Nothing was imported."
    assert any(m.startswith("Row 4: username: no user 'nobody'") for m in messages)
    assert any(m.startswith("Row 5:") and "not a date" in m and "evidence_reference" in m for m in messages)
    assert not TrainingRecord.objects.filter(user=trainee).exists()


@pytest.mark.parametrize("text", ["", "name,when\nx,y\n", "username,course,completed_on\n"])
def test_a_csv_without_the_columns_or_rows_is_refused(qms_coordinator, text):
    with pytest.raises(ValidationError):
        training_records_import(text=text, actor=qms_coordinator)


def test_an_auditor_cannot_import(make_user):
    with pytest.raises(PermissionDenied):
        training_records_import(text=CSV_OK, actor=make_user(Role.AUDITOR, username="aud"))


def test_the_matrix_shows_who_is_qualified_and_who_lapses(trainee, make_user):
    today = timezone.localdate()
    certify(
        trainee,
        ["qms_bypass_procedures_basic"],
        completed_on=today - timedelta(days=300),
        expires_on=today + timedelta(days=10),
    )
    certify(
        trainee,
        ["incident_response_protocols"],
        completed_on=today - timedelta(days=400),
        expires_on=today - timedelta(days=1),
    )
    make_user(Role.LEGAL, username="lawyer")
    _courses, rows = training_matrix()
    row = next(r for r in rows if r.user == trainee)
    states = {c.course: c.state for c in row.cells}
    assert states["qms_bypass_procedures_basic"] == "lapsing"
    assert states["incident_response_protocols"] == "expired"
    assert states["emergency_patch_training"] == "missing"  # CM-WF asks it of incident commanders
    assert row.qualified_roles == []
    lawyer = next(r for r in rows if r.user.username == "lawyer")
    assert lawyer.qualified_roles == [Role.LEGAL]


def test_the_matrix_query_budget_does_not_grow(make_user, django_assert_max_num_queries):
    for n in range(12):
        make_user(Role.LEAD, username=f"lead{n}")
    with django_assert_max_num_queries(5):
        training_matrix()


def test_expiry_within_30_days_is_a_clock_on_the_person_met_by_a_new_record(trainee, qms_coordinator):
    today = timezone.localdate()
    certify(
        trainee,
        ["incident_response_protocols"],
        completed_on=today - timedelta(days=350),
        expires_on=today + timedelta(days=15),
    )
    certify(trainee, ["qms_bypass_procedures_basic"], completed_on=today, expires_on=today + timedelta(days=200))
    assert training_expiry_sweep() == 1
    assert training_expiry_sweep() == 0  # twice: one clock
    clock = Obligation.objects.get(kind="recertification")
    assert clock.owner == trainee and clock.key.startswith("incident_response_protocols:")
    assert kind_of(clock.kind) is not None and kind_of("training_deviation") is not None
    record(trainee, qms_coordinator)
    clock.refresh_from_db()
    assert clock.satisfied_at is not None and clock.satisfied_by == qms_coordinator


def test_the_pages_record_import_and_show_the_matrix(client, trainee, qms_coordinator, auditor, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(qms_coordinator)
    assert client.get(reverse("qms:training-record")).status_code == 200
    response = client.post(
        reverse("qms:training-record"),
        {
            "user": trainee.pk,
            "course": "incident_response_protocols",
            "completed_on": "2026-11-30",
            "evidence_file": SimpleUploadedFile("cert.pdf", b"%PDF-1.4 certificate", content_type="application/pdf"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    made = TrainingRecord.objects.get(user=trainee)
    assert len(made.evidence_sha256) == 64
    bad = client.post(reverse("qms:training-import"), {"file": SimpleUploadedFile("t.csv", b"username,course\nx,y\n")})
    assert bad.status_code == 400 and "missing: completed_on" in bad.content.decode()
    ok = client.post(reverse("qms:training-import"), {"file": SimpleUploadedFile("t.csv", CSV_OK.encode())})
    assert ok.status_code == 302
    client.force_login(auditor)
    page = client.get(reverse("qms:training-matrix"))
    assert page.status_code == 200 and "Tia Trainee" in page.content.decode()
    assert client.get(reverse("qms:training-evidence", args=[made.pk])).status_code == 200
    assert client.post(reverse("qms:training-record"), {}).status_code == 403
    client.force_login(trainee)
    assert client.get(reverse("qms:training-evidence", args=[made.pk])).status_code == 200
    assert client.get(reverse("qms:training-matrix")).status_code == 403


def test_the_api_records_and_imports_with_a_scoped_token(client, trainee, qms_coordinator):
    _, reader = api_token_create(
        user=qms_coordinator, name="r", scopes=[ApiToken.Scope.READ], expires_at=None, second_factor_verified=False
    )
    _, writer = api_token_create(
        user=qms_coordinator,
        name="w",
        scopes=[ApiToken.Scope.INTEGRATIONS],
        expires_at=None,
        second_factor_verified=False,
    )
    body = {
        "user": "trainee",
        "course": "tabletop_exercise",
        "completed_on": "2026-11-30",
        "evidence_reference": "TTX-1",
    }
    url = reverse("api-training-records")
    assert (
        client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {reader}").status_code == 403
    )
    made = client.post(url, body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {writer}")
    assert made.status_code == 201 and made.json()["expires_on"] == "2027-05-30"
    bad = client.post(
        reverse("api-training-import"),
        {"csv": CSV_OK + "ghost,x,2026-01-01,,C,\n"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {writer}",
    )
    assert bad.status_code == 400 and TrainingRecord.objects.filter(user=trainee).count() == 1
    ok = client.post(
        reverse("api-training-import"),
        {"csv": CSV_OK},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {writer}",
    )
    assert ok.status_code == 201 and ok.json() == {"imported": 2}


def test_a_version_scheduled_for_later_asks_nothing_until_it_takes_effect(make_user, qms_coordinator, time_machine):
    """The certifications asked of a role are those of the versions in force now: a published version whose
    effective_from is still ahead changes neither the catalogue, nor the requirements, nor the expiry sweep."""
    import copy

    from qms.models import Procedure
    from qms.services.procedures import procedure_version_create, procedure_version_current
    from qms.services.training import courses_current, is_qualified_everywhere, role_requirements_current

    legal = make_user(Role.LEGAL, username="counsel")
    current = procedure_version_current(code="emergency-bypass-workflow")
    definition = copy.deepcopy(current.definition)
    training = definition["training"]
    training["courses"]["export_control"] = {"label": "Export control", "validity_months": 12}
    training["role_certifications"]["legal"] = [*training["role_certifications"].get("legal", []), "export_control"]
    starts = timezone.now().replace(microsecond=0) + timedelta(days=7)
    procedure_version_create(
        procedure=Procedure.objects.get(code="emergency-bypass-workflow"),
        definition=definition,
        actor=qms_coordinator,
        change_note="Export control for legal, from next week.",
        effective_from=starts,
    )
    assert "export_control" not in courses_current()
    assert "export_control" not in role_requirements_current()["legal"]
    assert is_qualified_everywhere(legal, Role.LEGAL) == []
    time_machine.move_to(starts + timedelta(hours=1), tick=False)
    assert courses_current()["export_control"]["label"] == "Export control"
    assert "export_control" in role_requirements_current()["legal"]
    assert is_qualified_everywhere(legal, Role.LEGAL) == ["Export control: no training recorded"]
