"""The API fuzzed against its own OpenAPI schema (schemathesis): no server errors, and every answer as the
schema says (status, content type, body), for generated valid and invalid input.

The schema is the one the app serves at /api/schema/ (signed in); every case goes to the WSGI application
in-process, inside the test's transaction, with a token. Examples are bounded so the run stays short, and
derandomised so CI and a laptop see the same cases.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from qms.roles import Role
from qms.wsgi import application
from tests.factories import api_token, file_stub

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

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def fuzz(case):
        case.call_and_validate(app=wsgi_app, headers=headers, checks=CHECKS)

    fuzz()
