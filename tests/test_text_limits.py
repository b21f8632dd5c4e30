"""Size limits on the text users type (``qms.limits``): a field error on the page, in the API and from the
service whichever path wrote it, and nothing changes."""

from __future__ import annotations

import inspect

import pytest
from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from rest_framework import serializers
from rest_framework.test import APIClient

from audits import api as api_audits
from audits.models import AuditEvent
from emergencies.api import changes as api_changes
from emergencies.api import followups as api_followups
from emergencies.api import incidents as api_incidents
from emergencies.api import lifecycle as api_lifecycle
from emergencies.api import postmortem as api_postmortem
from emergencies.api import warroom as api_warroom
from emergencies.api.bypasses import actions as api_bypass_actions
from emergencies.api.bypasses import requests as api_bypass_requests
from emergencies.api.ccb import manage as api_ccb_manage
from emergencies.api.ccb import sessions as api_ccb_sessions
from emergencies.api.patches import artifacts as api_patch_artifacts
from emergencies.api.patches import packages as api_patch_packages
from emergencies.api.patches import units as api_patch_units
from emergencies.forms import bypasses as forms_bypasses
from emergencies.forms import ccb as forms_ccb
from emergencies.forms import changes as forms_changes
from emergencies.forms import handoffs as forms_handoffs
from emergencies.forms import incidents as forms_incidents
from emergencies.forms import patches as forms_patch
from emergencies.forms import postincident as forms_postincident
from emergencies.forms import warroom as forms_warroom
from emergencies.models import BypassRequest, ChangeRecord, Incident
from emergencies.services import postincident as pi
from emergencies.services.bypasses import bypass_sign
from qms.api import signatures as api_signatures
from qms.api import users as api_users
from qms.limits import COMMENT_MAX, TEXT_MAX, text_limit_errors
from qms.models import Signature, SignerState
from qms.roles import Role
from qms.roster import api as api_roster
from qms.roster import forms as roster_forms
from tests.emergencies.services.test_bypasses import request_bypass
from tests.factories import PASSWORD, api_token, authorise, file_stub, stub_input
from tests.problems import problem_fields

pytestmark = pytest.mark.django_db

MEGABYTE = "x" * 1_000_000
STUB = {"title": "Checkout down", "category": "p1_incident"}


def nothing_filed(events_before: int):
    assert not ChangeRecord.objects.exists() and not Incident.objects.exists()
    assert not BypassRequest.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_a_megabyte_problem_statement_is_refused_by_the_page(client, oncall):
    client.force_login(oncall)
    before = AuditEvent.objects.count()
    response = client.post(reverse("emergencies:stub-create"), {**STUB, "problem_statement": MEGABYTE})
    assert response.status_code == 400
    error = response.context["form"].errors["problem_statement"][0]
    assert f"{TEXT_MAX:,}" in error or str(TEXT_MAX) in error
    nothing_filed(before)


def test_a_megabyte_problem_statement_is_refused_by_the_api(oncall):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(oncall)[1]}")
    before = AuditEvent.objects.count()
    response = client.post("/api/v1/emergencies/", {**STUB, "problem_statement": MEGABYTE}, format="json")
    assert response.status_code == 400
    assert "problem_statement" in problem_fields(response)
    nothing_filed(before)


def test_a_megabyte_problem_statement_is_refused_by_the_service(oncall):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        file_stub(oncall, problem_statement=MEGABYTE)
    assert "At most 20,000 characters" in refused.value.message_dict["problem_statement"][0]
    nothing_filed(before)
    file_stub(oncall, problem_statement="y" * TEXT_MAX)  # the limit itself is fine
    assert ChangeRecord.objects.count() == 1


def test_a_long_documentation_section_is_refused_and_nothing_changes(oncall, commander):
    change = file_stub(oncall, commander=commander)
    authorise(change, commander)
    history = change.history.count()
    with pytest.raises(ValidationError) as refused:
        pi.change_documentation_update(
            change_id=change.pk, actor=oncall, sections={"root_cause": "ok", "lessons_learned": "z" * (TEXT_MAX + 1)}
        )
    assert set(refused.value.message_dict) == {"lessons_learned"}
    change.refresh_from_db()
    assert change.root_cause == "" and change.history.count() == history


def test_a_long_signature_comment_is_refused_and_signs_nothing(make_user):
    bypass = request_bypass(make_user(Role.ONCALL))
    lead = make_user(Role.LEAD)
    with pytest.raises(ValidationError) as refused:
        bypass_sign(
            bypass_id=bypass.pk, signer=lead, password=PASSWORD, role=Role.LEAD, comment="c" * (COMMENT_MAX + 1)
        )
    assert "comment" in refused.value.message_dict
    assert not Signature.objects.exists()
    bypass.refresh_from_db()
    assert bypass.status == BypassRequest.Status.PENDING
    assert not SignerState.objects.filter(user=lead, consecutive_failures__gt=0).exists()


def test_the_sign_form_refuses_a_long_comment_with_a_field_error(client, make_user):
    bypass = request_bypass(make_user(Role.ONCALL))
    client.force_login(make_user(Role.LEAD))
    response = client.post(
        reverse("emergencies:bypass-sign", args=[bypass.identifier]),
        {"role": "lead", "password": PASSWORD, "comment": "c" * (COMMENT_MAX + 1)},
    )
    assert response.status_code == 400 and response.context["sign_form"].errors["comment"]
    assert not Signature.objects.exists()


# --- every field has its limit ---------------------------------------------------------------------------------

# Written by the portal, never typed by a user (rendered messages, snapshots, computed reasons), or received
# from an outside tool whose whole request is bounded (alert payloads, GitHub deliveries and their errors).
SYSTEM_TEXT = {
    ("qms", "notification"),
    ("qms", "outboxmessage"),  # task names and JSON arguments the portal writes, a broker error
    ("audits", "auditevent"),
    ("audits", "compliancereport"),
    ("audits", "obligation"),
    ("emergencies", "alertpayload"),
    ("emergencies", "alert"),
    ("emergencies", "githubdelivery"),
    ("emergencies", "githubcall"),
}


def test_every_user_text_field_of_the_models_has_a_limit():
    missing = []
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label not in {"qms", "emergencies"} or (meta.app_label, meta.model_name) in SYSTEM_TEXT:
            continue
        if getattr(model, "instance_type", None) is not None:
            continue  # a history copy: its source model is checked
        for field in meta.concrete_fields:
            if isinstance(field, models.TextField) and not field.max_length:
                missing.append(f"{meta.label}.{field.name}")
    assert missing == []


def test_the_limit_check_names_each_long_field():
    change = ChangeRecord(title="t" * 251, problem_statement="p" * (TEXT_MAX + 1), root_cause="fine")
    assert set(text_limit_errors(change)) == {"title", "problem_statement"}


def _classes(module, base):
    return [
        c
        for _, c in inspect.getmembers(module, inspect.isclass)
        if issubclass(c, base) and c.__module__ == module.__name__
    ]


EXEMPT = {"password", "token"}  # re-entered secrets, never stored or exported


def test_every_text_field_of_the_forms_has_a_limit():
    missing = []
    emergency_forms = (forms_changes, forms_bypasses, forms_postincident, forms_handoffs, forms_warroom)
    for module in (*emergency_forms, forms_incidents, forms_ccb, forms_patch, roster_forms):
        for form in _classes(module, forms.BaseForm):
            for name, field in form.base_fields.items():
                if isinstance(field, forms.CharField) and name not in EXEMPT and not field.max_length:
                    missing.append(f"{form.__name__}.{name}")
    assert missing == []


def test_every_writable_text_field_of_the_api_has_a_limit():
    missing = []
    modules = (api_changes, api_bypass_requests, api_bypass_actions, api_ccb_sessions, api_lifecycle, api_ccb_manage)
    modules += (api_incidents, api_warroom, api_signatures)
    patch_modules = (api_patch_packages, api_patch_artifacts, api_patch_units, api_followups)
    for module in (*modules, *patch_modules, api_postmortem, api_audits, api_users, api_roster):
        for serializer in _classes(module, serializers.Serializer):
            if not serializer.__name__.endswith(("Input", "InputSerializer", "CreateSerializer")):
                continue  # a response's shape, never parsed from a request
            for name, field in serializer().fields.items():
                if (
                    isinstance(field, serializers.CharField)
                    and not field.read_only
                    and name not in EXEMPT
                    and field.max_length is None
                ):
                    missing.append(f"{serializer.__name__}.{name}")
    assert missing == []


def test_stub_input_defaults_fit_the_limits(oncall):
    assert (
        text_limit_errors(ChangeRecord(title=stub_input().title, problem_statement=stub_input().problem_statement))
        == {}
    )
