"""The API fuzzed against its own OpenAPI schema (schemathesis): no server errors, and every answer as the
schema says (status, content type, body), for generated valid and invalid input.

The schema is the one the app serves at /api/schema/ (signed in); every case goes to the WSGI application
in-process, inside the test's transaction, with a token. Examples are bounded so the run stays short, and
derandomised (the stateless run and the stateful scenarios alike) so CI and a laptop see the same cases. Every
operation of the served schema is a test of its own, and each one asserts that its cases reached the app.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qms.roles import Role
from qms.wsgi import application
from tests.factories import PASSWORD, api_token, file_stub

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 15
METHODS = {"get", "post", "put", "patch", "delete"}


# The operations, known at collection time from the same generator that serves /api/schema/, so each one
# is a test of its own and a new endpoint is fuzzed without touching this file. A schema that cannot be
# generated fails test_the_schema_generates, not the collection of the whole suite.
def _operations() -> tuple[list[tuple[str, str]], Exception | None]:
    try:
        paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    except Exception as exc:
        return [], exc
    return sorted((m.upper(), path) for path, item in paths.items() for m in item if m in METHODS), None


OPERATIONS, SCHEMA_ERROR = _operations()


def test_the_schema_generates():
    assert SCHEMA_ERROR is None, f"The OpenAPI schema cannot be generated: {SCHEMA_ERROR!r}"
    assert ("POST", "/api/v1/emergencies/") in OPERATIONS


@pytest.fixture
def wsgi_app():
    """Like Django's test client: a request must not close the test's connection (and its transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_user(make_user):
    user = make_user(Role.ONCALL, Role.SECURITY, username="fuzzer")
    file_stub(user)  # something to list and to look up
    return user


@pytest.fixture
def served_schema(api_user, client):
    client.force_login(api_user)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    client.logout()
    return schemathesis.openapi.from_dict(response.json())


def test_every_operation_is_fuzzed(served_schema):
    served = sorted((op.ok().method.upper(), op.ok().path) for op in served_schema.get_all_operations())
    assert served == OPERATIONS


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_answers_as_its_schema_says(served_schema, api_user, wsgi_app, method, path, mode):
    operation = next(
        op.ok() for op in served_schema.get_all_operations() if (op.ok().method.upper(), op.ok().path) == (method, path)
    )
    _, secret = api_token(api_user)
    headers = {"Authorization": f"Token {secret}"}
    sent = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def fuzz(case):
        sent.append(case.call_and_validate(app=wsgi_app, headers=headers, checks=CHECKS).status_code)

    fuzz()
    # covered, not skipped: the operation was called (an operation with no invalid input to make may send none)
    assert sent or mode == GenerationMode.NEGATIVE, f"{method} {path}: no case reached the app"


# --- Stateful: the links the schema declares, followed ------------------------------------------------------
# Scenarios start at an operation that names a record (file a stub, request a bypass, list them) and follow the
# schema's links to the operations on that record: read it, move it, sign it, reject it, record an approval.
# The fuzzed user's password is known, so a signing step can succeed and the scenario goes on from a signed
# record; a wrong password (the stateless run above sends those) is a documented 400/403.
STATEFUL_SCENARIOS = 60
STATEFUL_STEPS = 8


def test_every_operation_on_a_record_is_linked(served_schema):
    """Every operation on an emergency or a bypass is reachable by a link from the one that names the record."""
    raw = served_schema.raw_schema
    linked = {
        link["operationId"]
        for item in raw["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for response in operation.get("responses", {}).values()
        for link in response.get("links", {}).values()
    }
    on_records = {
        operation["operationId"]
        for path, item in raw["paths"].items()
        if path.startswith(("/api/v1/emergencies/{identifier}/", "/api/v1/bypasses/{identifier}/"))
        for operation in item.values()
        if isinstance(operation, dict)
    }
    assert on_records and sorted(on_records - linked) == []


@pytest.mark.django_db
def test_linked_sequences_answer_as_the_schema_says(served_schema, api_user, make_user, wsgi_app):
    file_stub(make_user(Role.ONCALL, username="requester"))  # a bypass the fuzzed user may sign or reject
    _, secret = api_token(api_user)
    headers = {"Authorization": f"Token {secret}"}
    followed = set()  # the operations on a record that a scenario reached with a real identifier

    class Workflow(served_schema.as_state_machine()):
        def before_call(self, case):
            # A fresh key per step (a generated one repeats across steps: 422) and no guessed version (412).
            for name in ("Idempotency-Key", "If-Match"):
                (case.headers or {}).pop(name, None)
            if isinstance(case.body, dict) and "password" in case.body:
                case.body["password"] = PASSWORD

        def after_call(self, response, case):
            if "{identifier}" in case.path and response.status_code < 300:
                followed.add((case.method.upper(), case.path))

        def get_call_kwargs(self, case):
            return {"app": wsgi_app, "headers": headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            # the records a scenario filed stay (one transaction): a replay would not see the same state, so
            # a failure is reported as found, not shrunk
            phases=[Phase.generate],
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The links were followed: operations on records the scenarios filed or listed went through, not only 404s.
    # (Which of them are writes depends on what the derandomized data meets: alone, a status update on a filed
    # emergency goes through; after the rest of the suite, once, only reads did. Every write is fuzzed above.)
    assert followed, "no operation reached a record through a link"
