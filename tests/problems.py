"""Reading the API's RFC 9457 problem documents in tests."""


def problem_fields(response) -> dict[str, list[str]]:
    """Field errors of a problem answer, by field name as the client sent it."""
    assert response["Content-Type"].startswith("application/problem+json"), response["Content-Type"]
    body = response.json()
    assert body["status"] == response.status_code
    fields: dict[str, list[str]] = {}
    for error in body.get("errors", []):
        fields.setdefault(error["field"] or "non_field_errors", []).append(error["detail"])
    return fields
