"""Every API operation that takes a body documents it with an example (issue 15); the reads still without a
response example are listed, so that each is seen and a new one is not added without."""

from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "post", "put", "patch", "delete"}
# Reads (and body-less writes) not yet given a response example.
WITHOUT_EXAMPLE = {
    ("GET", "/api/v1/bypasses/"),
    ("GET", "/api/v1/bypasses/{identifier}/"),
    ("GET", "/api/v1/ccb/sessions/"),
    ("GET", "/api/v1/ccb/sessions/{id}/"),
    ("GET", "/api/v1/emergencies/"),
    ("GET", "/api/v1/emergencies/{identifier}/"),
    ("POST", "/api/v1/emergencies/{identifier}/hotfix-review/"),
    ("GET", "/api/v1/emergencies/{identifier}/post-mortem/"),
    ("POST", "/api/v1/emergencies/{identifier}/post-mortem/"),
    ("POST", "/api/v1/emergencies/{identifier}/post-mortem/submission/"),
    ("GET", "/api/v1/emergencies/{identifier}/war-room/entries/"),
    ("GET", "/api/v1/gates/deployment"),
    ("GET", "/api/v1/reports/"),
    ("GET", "/api/v1/reports/{id}/"),
    ("GET", "/api/v1/users/{user_id}/signing/"),
}


def _operations():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def _has_example(container: dict) -> bool:
    return any("example" in media or "examples" in media for media in container.get("content", {}).values())


def test_every_request_body_has_an_example():
    missing = sorted(
        (method, path)
        for method, path, operation in _operations()
        if "requestBody" in operation and not _has_example(operation["requestBody"])
    )
    assert missing == []


def test_every_operation_has_an_example_or_is_listed():
    without = {
        (method, path)
        for method, path, operation in _operations()
        if not _has_example(operation.get("requestBody", {}))
        and not any(_has_example(r) for r in operation.get("responses", {}).values())
    }
    assert sorted(without - WITHOUT_EXAMPLE) == [], "Give these operations an example"
    assert sorted(WITHOUT_EXAMPLE - without) == [], "These have an example now: take them off the list"
