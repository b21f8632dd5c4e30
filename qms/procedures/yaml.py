"""Procedure versions as YAML files: one file per procedure, to keep in version control and review as diffs.

The file (schema ``qms-procedure/1``, documented in README "Procedures as YAML") carries the procedure's code,
title and source document, the version it was exported from, and the definition unchanged. PyYAML's
``safe_dump``/``safe_load`` are used: a definition is plain data (mappings, lists, strings, numbers, booleans),
``safe_load`` builds nothing else (no Python objects from tags), and the dump quotes every string that would
otherwise read back as another type ("9.0", "E", "no"), so an export read back is equal to what was exported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug

from qms.limits import COMMENT_MAX, TITLE_MAX

SCHEMA = "qms-procedure/1"
# A procedure file is a few dozen kilobytes; refuse anything far larger before parsing it.
YAML_MAX_BYTES = 512 * 1024
_HEADER = "# QMS procedure definition (schema qms-procedure/1). Import creates a draft; see README.\n"


@dataclass(frozen=True)
class ProcedureFile:
    code: str
    title: str
    source_document: str
    definition: dict
    change_note: str = ""
    version: int | None = None


def procedure_to_yaml(version) -> str:
    """One ProcedureVersion (or draft-like object with .procedure, .definition) as a YAML document."""
    procedure = version.procedure
    document = {
        "schema": SCHEMA,
        "code": procedure.code,
        "title": procedure.title,
        "source_document": procedure.source_document,
        "version": getattr(version, "version", None),
        "change_note": getattr(version, "change_note", "") or "",
        "definition": version.definition,
    }
    return _HEADER + definition_to_yaml(document)


def definition_to_yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)


def yaml_to_definition(text: str, *, field: str = "definition") -> dict:
    """A YAML mapping (a definition edited as text), refused with a clear error when it is not one."""
    data = _load(text, field=field)
    if not isinstance(data, dict):
        raise ValidationError({field: ["The YAML must be a mapping of rule names to their settings."]})
    return data


def procedure_from_yaml(text: str) -> ProcedureFile:
    """Parse a procedure file; every problem is reported against the field it concerns."""
    data = _load(text, field="file")
    if not isinstance(data, dict):
        raise ValidationError({"file": ["A procedure file is a YAML mapping (schema, code, title, definition)."]})
    errors: dict[str, list[str]] = {}
    if data.get("schema") != SCHEMA:
        errors["schema"] = [f"Expected schema: {SCHEMA}, not {data.get('schema')!r}."]
    unknown = sorted(set(data) - {"schema", "code", "title", "source_document", "version", "change_note", "definition"})
    if unknown:
        errors["file"] = [f"Unknown top-level key(s): {', '.join(map(str, unknown))}."]
    code, title = data.get("code"), data.get("title")
    try:
        validate_slug(code if isinstance(code, str) else "")
        if len(code) > 64:
            raise ValidationError("too long")
    except (ValidationError, TypeError):
        errors["code"] = ["code: letters, digits, hyphens and underscores, at most 64 characters."]
    if not isinstance(title, str) or not title.strip() or len(title) > TITLE_MAX:
        errors["title"] = [f"title: a non-empty text of at most {TITLE_MAX} characters."]
    source = data.get("source_document") or ""
    if not isinstance(source, str) or len(source) > TITLE_MAX:
        errors["source_document"] = [f"source_document: a text of at most {TITLE_MAX} characters."]
    note = data.get("change_note") or ""
    if not isinstance(note, str) or len(note) > COMMENT_MAX:
        errors["change_note"] = [f"change_note: a text of at most {COMMENT_MAX} characters."]
    version = data.get("version")
    if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
        errors["version"] = ["version: a positive whole number (the version it was exported from), or absent."]
    definition = data.get("definition")
    if not isinstance(definition, dict):
        errors["definition"] = ["definition: a mapping of rule names to their settings."]
    else:
        try:  # the definition is stored as JSON: refuse what JSON cannot hold (dates, non-text keys)
            json.dumps(definition, allow_nan=False)
        except (TypeError, ValueError) as exc:
            errors["definition"] = [f"definition: only text, numbers, true/false, lists and mappings ({exc})."]
    if errors:
        raise ValidationError(errors)
    return ProcedureFile(
        code=code, title=title.strip(), source_document=source, definition=definition, change_note=note, version=version
    )


def _load(text: str, *, field: str):
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="strict")
    if len(text.encode()) > YAML_MAX_BYTES:
        raise ValidationError({field: [f"The YAML is larger than {YAML_MAX_BYTES // 1024} KiB."]})
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ValidationError({field: [f"Not valid YAML{where}: {getattr(exc, 'problem', None) or exc}."]}) from None
