"""Every API operation that takes a body documents it with an example (issue 15); the reads still without a
response example would be listed, and none is: every operation shows what it answers."""

from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "post", "put", "patch", "delete"}
# Operations without an example of their own (none: a new one must bring one).
WITHOUT_EXAMPLE: set[tuple[str, str]] = set()


def _operations():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    for path, item in paths.items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def _has_example(container: dict) -> bool:
    return any("example" in media or "examples" in media for media in container.get("content", {}).values())


def _answers_no_body(operation: dict) -> bool:
    """A body-less write whose success is a 204 has nothing to show (its errors are problem details)."""
    ok = {code: r for code, r in operation.get("responses", {}).items() if code.startswith("2")}
    return bool(ok) and all(not r.get("content") for r in ok.values())


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
        and not _answers_no_body(operation)
    }
    assert sorted(without - WITHOUT_EXAMPLE) == [], "Give these operations an example"
    assert sorted(WITHOUT_EXAMPLE - without) == [], "These have an example now: take them off the list"
