"""Checking a Django test response against the OpenAPI schema the portal serves: the status is documented,
the content type is one documented for it, and the body is valid against the documented schema
(schemathesis' validator)."""

from __future__ import annotations

import requests
import schemathesis
from schemathesis.core.transport import Response


def served_schema(client, user):
    client.force_login(user)
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    client.logout()
    return schemathesis.openapi.from_dict(response.json())


def operation(schema, method: str, path: str):
    for result in schema.get_all_operations():
        op = result.ok()
        if op.method.upper() == method.upper() and op.path == path:
            return op
    raise AssertionError(f"{method} {path} is not in the schema")


def assert_conforms(schema, method: str, path: str, response) -> None:
    """Raise unless the response is what the schema documents for the operation ``method path``."""
    op = operation(schema, method, path)
    documented = schema.raw_schema["paths"][path][method.lower()]["responses"]
    assert str(response.status_code) in documented, (
        f"{method} {path}: {response.status_code} is not documented ({', '.join(documented)})"
    )
    content_type = response.get("Content-Type", "").split(";")[0].strip()
    content = documented[str(response.status_code)].get("content") or {}
    if response.content:
        assert content_type in content, f"{method} {path} {response.status_code}: {content_type} not in {list(content)}"
    prepared = requests.Request(method.upper(), f"http://testserver{path}").prepare()
    wrapped = Response(
        status_code=response.status_code,
        headers={k: [v] for k, v in response.items()},
        content=response.content,
        request=prepared,
        elapsed=0.0,
        verify=True,
    )
    op.validate_response(wrapped, case=op.Case())
