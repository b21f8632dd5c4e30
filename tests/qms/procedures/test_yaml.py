"""Procedures as YAML: export, import as a draft, a lossless round trip of every preset, hostile files."""

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from qms.models import ProcedureDraft, ProcedureVersion
from qms.procedures import PRESETS
from qms.procedures.yaml import SCHEMA, procedure_from_yaml, procedure_to_yaml
from qms.roles import Role
from qms.services.procedures import procedure_version_current

pytestmark = pytest.mark.django_db


def export(code, *args):
    out = io.StringIO()
    call_command("procedure_export", code, *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p["code"])
def test_round_trip_of_every_preset_is_lossless(preset):
    version = procedure_version_current(code=preset["code"])
    text = export(preset["code"])
    parsed = procedure_from_yaml(text)
    assert parsed.definition == version.definition
    # What is stored (JSON) is what was read back: no type changed on the way ("9.0" stays text, 0 stays 0).
    assert json.dumps(parsed.definition, sort_keys=True) == json.dumps(version.definition, sort_keys=True)
    assert json.loads(json.dumps(preset["definition"])) == parsed.definition
    assert (parsed.code, parsed.title, parsed.version) == (preset["code"], preset["title"], version.version)
    assert procedure_to_yaml(version) == text


def test_export_a_given_version_and_refuse_an_unknown_one():
    assert "version: 1\n" in export("eng-proc-004", "--version", "1")
    with pytest.raises(CommandError, match="No version 9"):
        export("eng-proc-004", "--version", "9")
    with pytest.raises(CommandError):
        export("no-such-procedure")


def test_import_creates_a_draft_never_a_version(make_user, tmp_path):
    author = make_user(Role.QMS)
    text = export("emergency-bypass-workflow").replace("amount: 72\n", "amount: 48\n", 1)
    path = tmp_path / "ebw.yaml"
    path.write_text(text)
    versions = ProcedureVersion.objects.count()
    out = io.StringIO()
    call_command("procedure_import", str(path), "--author", author.username, stdout=out)
    draft = ProcedureDraft.objects.get()
    assert draft.status == ProcedureDraft.Status.DRAFT and draft.author == author
    assert draft.base_version == procedure_version_current(code="emergency-bypass-workflow")
    assert ProcedureVersion.objects.count() == versions
    assert f"Draft {draft.pk}" in out.getvalue()


def test_import_of_a_new_code_makes_a_fifth_procedure_draft(make_user, tmp_path):
    author = make_user(Role.QUALITY)
    text = export("eng-proc-004").replace("code: eng-proc-004", "code: site-b-emergency")
    path = tmp_path / "b.yaml"
    path.write_text(text)
    call_command("procedure_import", str(path), "--author", author.username, stdout=io.StringIO())
    draft = ProcedureDraft.objects.get()
    assert draft.procedure.code == "site-b-emergency" and draft.base_version is None
    assert procedure_version_current(code="site-b-emergency") is None  # not filed under until published


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[1, 2]", "file"),
        ("schema: other/1\ncode: x\ntitle: X\ndefinition: {}", "schema"),
        (f"schema: {SCHEMA}\ncode: 'bad code!'\ntitle: X\ndefinition: {{}}", "code"),
        (f"schema: {SCHEMA}\ncode: x\ntitle: ''\ndefinition: {{}}", "title"),
        (f"schema: {SCHEMA}\ncode: x\ntitle: X\ndefinition: [1]", "definition"),
        (f"schema: {SCHEMA}\ncode: x\ntitle: X\ndefinition: {{when: 2026-01-01}}", "definition"),
        (f"schema: {SCHEMA}\ncode: x\ntitle: X\nextra: 1\ndefinition: {{}}", "file"),
        ("schema: [unclosed", "file"),
        ("!!python/object/apply:os.system ['true']", "file"),
    ],
)
def test_hostile_files_are_refused_naming_the_field(text, field):
    with pytest.raises(ValidationError) as caught:
        procedure_from_yaml(text)
    assert field in caught.value.message_dict


def test_import_refuses_an_invalid_definition_and_writes_nothing(make_user, tmp_path):
    author = make_user(Role.QMS)
    text = export("emergency-bypass-workflow").replace("unit: hours", "unit: fortnights", 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CommandError, match=r"clocks\.hotfix\.unit"):
        call_command("procedure_import", str(path), "--author", author.username, stdout=io.StringIO())
    assert not ProcedureDraft.objects.exists()


def test_import_needs_an_editor(make_user, tmp_path):
    auditor = make_user(Role.AUDITOR)
    path = tmp_path / "ebw.yaml"
    path.write_text(export("emergency-bypass-workflow"))
    with pytest.raises(CommandError, match="QMS coordinator or a quality manager"):
        call_command("procedure_import", str(path), "--author", auditor.username, stdout=io.StringIO())
    assert not ProcedureDraft.objects.exists()
