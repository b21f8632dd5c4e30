"""OpenAPI links between the operations on emergencies and bypass requests: the identifier a create, a list or
a read answers with is the ``{identifier}`` of every operation on that record. Clients (and the stateful
schemathesis run) follow them: file a stub, read it, move it through its lifecycle; request a bypass, read it,
sign, reject or record a verbal approval of it."""

from __future__ import annotations

API = "/api/v1/"
# resource prefix -> where the identifier is in each answer that names one
RESOURCES = {
    "emergencies/": {
        ("post", "201"): "$response.body#/id",
        ("get", "200"): "$response.body#/results/0/id",
    },
    "bypasses/": {
        ("post", "201"): "$response.body#/id",
        ("get", "200"): "$response.body#/results/0/id",
    },
}
RECORD = "{identifier}/"
# a bypass names its change: every operation on that change follows from a bypass too
BYPASS_CHANGE = "$response.body#/change"


def _link_name(path: str, method: str) -> str:
    tail = path.removeprefix(API).strip("/").replace("{", "").replace("}", "").replace("/", "-")
    return f"{method}-{tail}".replace("_", "-")


def _targets(paths: dict, prefix: str) -> list[tuple[str, str, str]]:
    record = API + prefix + RECORD
    return sorted(
        (path, method, operation["operationId"])
        for path, item in paths.items()
        if path.startswith(record)
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    )


def _add(response: dict, targets: list[tuple[str, str, str]], expression: str) -> None:
    links = response.setdefault("links", {})
    for path, method, operation_id in targets:
        links.setdefault(
            _link_name(path, method),
            {"operationId": operation_id, "parameters": {"identifier": expression}},
        )


def add_links(result, generator, request, public):
    """drf-spectacular post-processing hook: the links from each create, list and read to the operations on
    the record it names."""
    paths = result.get("paths", {})
    for prefix, sources in RESOURCES.items():
        targets = _targets(paths, prefix)
        for (method, status), expression in sources.items():
            operation = paths.get(API + prefix, {}).get(method)
            if operation and status in operation.get("responses", {}):
                _add(operation["responses"][status], targets, expression)
        read = paths.get(API + prefix + RECORD, {}).get("get")
        if read and "200" in read.get("responses", {}):
            _add(read["responses"]["200"], [t for t in targets if t[1] != "get"], "$response.body#/id")
    change_targets = _targets(paths, "emergencies/")
    for path, method, status in (("bypasses/", "post", "201"), ("bypasses/" + RECORD, "get", "200")):
        operation = paths.get(API + path, {}).get(method)
        if operation and status in operation.get("responses", {}):
            _add(operation["responses"][status], change_targets, BYPASS_CHANGE)
    add_patch_links(paths)
    return result


# Patch packages: a package is named by its identifier (``{package}``), a unit by the package and its serial
# number, a file by the package and its id. (source path, method, status) -> where the names are in the answer
PACKAGE = API + "patch-packages/{package}/"
UNIT = PACKAGE + "units/{serial}/"
ARTIFACT = PACKAGE + "artifacts/{artifact_id}/"
PATCH_LINKS = {
    PACKAGE: [
        (API + "emergencies/{identifier}/patch-packages/", "post", "201", {"package": "$response.body#/id"}),
        (API + "patch-packages/", "get", "200", {"package": "$response.body#/results/0/id"}),
        (PACKAGE, "get", "200", {"package": "$response.body#/id"}),
    ],
    UNIT: [
        (
            PACKAGE + "units/",
            "post",
            "201",
            {"package": "$response.body#/package", "serial": "$response.body#/serial_number"},
        ),
        (
            PACKAGE + "units/",
            "get",
            "200",
            {"package": "$request.path.package", "serial": "$response.body#/results/0/serial_number"},
        ),
    ],
    ARTIFACT: [
        (
            PACKAGE + "artifacts/",
            "post",
            "201",
            {"package": "$request.path.package", "artifact_id": "$response.body#/id"},
        ),
        (
            PACKAGE + "artifacts/upload/",
            "post",
            "201",
            {"package": "$request.path.package", "artifact_id": "$response.body#/id"},
        ),
    ],
}


def add_patch_links(paths: dict) -> None:
    for prefix, sources in PATCH_LINKS.items():
        targets = sorted(
            (path, method, operation["operationId"])
            for path, item in paths.items()
            if path.startswith(prefix)
            and (prefix != PACKAGE or ("{serial}" not in path and "{artifact_id}" not in path))
            for method, operation in item.items()
            if isinstance(operation, dict) and "operationId" in operation
        )
        for source, method, status, parameters in sources:
            response = paths.get(source, {}).get(method, {}).get("responses", {}).get(status)
            if response is None:
                continue
            links = response.setdefault("links", {})
            for path, target_method, operation_id in targets:
                if (path, target_method) == (source, method):
                    continue
                wanted = {name: value for name, value in parameters.items() if "{" + name + "}" in path}
                links.setdefault(_link_name(path, target_method), {"operationId": operation_id, "parameters": wanted})
