"""The auditor's export: contents, manifest, its own audit event, and verification of a copy."""

import hashlib
import io
import json
import zipfile
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from audits.exports import audit_export_verify, audit_export_write
from audits.models import AuditChainHead, AuditEvent
from emergencies.services import change_record_transition
from qms.roles import Role
from tests.factories import file_stub, proceed_unauthorised

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)


def _export(actor=None, date_from=date(2026, 3, 1), date_to=date(2026, 3, 31)):
    buffer = io.BytesIO()
    summary = audit_export_write(date_from=date_from, date_to=date_to, actor=actor, out=buffer)
    buffer.seek(0)
    return summary, buffer


def _rewrite(buffer: io.BytesIO, changes: dict[str, bytes]) -> io.BytesIO:
    """A copy of the zip with some entries replaced: what someone editing an export would do."""
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, changes.get(name, src.read(name)))
    out.seek(0)
    return out


@pytest.fixture
def changes(oncall, commander):
    inside = file_stub(oncall, commander=commander, now=DAY)
    proceed_unauthorised(inside, commander)
    change_record_transition(change_id=inside.pk, transition="start_hotfix", actor=oncall, reason="patching")
    second = file_stub(oncall, now=DAY + timedelta(days=20, hours=14))  # 31 March, still inside
    outside = file_stub(oncall, now=DAY + timedelta(days=40))
    return inside, second, outside


def test_export_holds_each_change_in_range_with_its_trail_and_a_manifest(changes, qms_coordinator):
    inside, second, _outside = changes
    summary, buffer = _export(qms_coordinator)
    assert summary.changes == 2
    with zipfile.ZipFile(buffer) as zf:
        names = set(zf.namelist())
        assert names - {"reports.json"} == {
            "manifest.json",
            "users.json",
            f"changes/{inside.identifier}.json",
            f"changes/{second.identifier}.json",
            f"summaries/{inside.identifier}.pdf",
            f"summaries/{second.identifier}.pdf",
            "controls/index.json",
            "chain/events-000000000001.jsonl",
        }
        if "reports.json" in names:
            assert isinstance(json.loads(zf.read("reports.json")), list)
        manifest = json.loads(zf.read("manifest.json"))
        record = json.loads(zf.read(f"changes/{inside.identifier}.json"))
        users = json.loads(zf.read("users.json"))
    for name, entry in manifest["files"].items():
        with zipfile.ZipFile(buffer) as zf:
            assert hashlib.sha256(zf.read(name)).hexdigest() == entry["sha256"]
    assert manifest["range"] == {"from": "2026-03-01", "to": "2026-03-31", "timezone": "UTC"}
    assert manifest["generated_by"] == "qms"

    assert record["change"]["identifier"] == inside.identifier
    assert record["change"]["status"] == "hotfix_in_progress"
    assert record["incident"]["id"] == inside.incident_id
    assert [h["history_change_reason"] for h in record["history"]["change"]] == [
        "emergency stub filed",
        "proceed before authorisation: Verbal go-ahead; production is down.",
        "patching",
    ]
    assert len(record["history"]["incident"]) == 1
    assert {o["kind"] for o in record["obligations"]} >= {"triage", "hotfix"}
    assert "obligations" in record["history"]
    actions = [e["action"] for e in record["events"]]
    assert actions[0] == "change.filed"
    assert "change.start_hotfix" in actions
    assert all(len(e["hash"]) == 64 for e in record["events"])
    assert {"oncall", "commander"} <= {u["username"] for u in users}


def test_the_manifest_names_the_chain_head_and_the_export_is_an_audit_event(changes, auditor):
    head_before = AuditChainHead.objects.get(pk=1)
    summary, buffer = _export(auditor)
    with zipfile.ZipFile(buffer) as zf:
        manifest_bytes = zf.read("manifest.json")
    manifest = json.loads(manifest_bytes)
    assert manifest["chain_head"] == {"position": head_before.position, "hash": head_before.hash}
    event = AuditEvent.objects.get(action="audit.exported")
    assert event.actor == auditor
    assert event.position == head_before.position + 1
    assert event.after["manifest_sha256"] == hashlib.sha256(manifest_bytes).hexdigest() == summary.manifest_sha256
    assert event.after["changes"] == 2


def test_verification_passes_on_the_export_and_against_the_live_chain(changes, auditor):
    _, buffer = _export(auditor)
    result = audit_export_verify(source=buffer, against_chain=True)
    assert result.ok, result.problems
    assert result.files_checked == len(result.manifest["files"]) >= 3
    assert result.events_checked > 5


def test_verification_names_the_file_changed_after_export(changes, auditor):
    inside = changes[0]
    _, buffer = _export(auditor)
    name = f"changes/{inside.identifier}.json"
    with zipfile.ZipFile(buffer) as zf:
        record = json.loads(zf.read(name))
    record["change"]["title"] = "Nothing to see"
    result = audit_export_verify(source=_rewrite(buffer, {name: json.dumps(record).encode()}))
    assert not result.ok
    assert result.problems == [f"{name}: SHA-256 does not match the manifest"]


def test_a_rewritten_manifest_passes_alone_but_not_against_the_chain(changes, auditor):
    """Someone edits an event and recomputes the file's hash in the manifest: the event's own chain hash
    and the portal's record of the manifest still give it away."""
    inside = changes[0]
    _, buffer = _export(auditor)
    name = f"changes/{inside.identifier}.json"
    with zipfile.ZipFile(buffer) as zf:
        record = json.loads(zf.read(name))
        manifest = json.loads(zf.read("manifest.json"))
    record["events"][0]["reason"] = "routine change"
    data = json.dumps(record).encode()
    manifest["files"][name]["sha256"] = hashlib.sha256(data).hexdigest()
    forged = _rewrite(buffer, {name: data, "manifest.json": json.dumps(manifest).encode()})
    result = audit_export_verify(source=forged)
    assert result.problems == [f"{name}: event #{record['events'][0]['position']} does not match its chain hash"]

    # A whole invented change, listed in a rewritten manifest: consistent on its own, so only the
    # portal's own record of the manifest it produced can tell.
    manifest2 = json.loads(zipfile.ZipFile(buffer).read("manifest.json"))
    extra = json.dumps({"change": {"identifier": "CHG-EMG-20990101-0000"}, "events": []}).encode()
    manifest2["files"]["changes/CHG-EMG-20990101-0000.json"] = {"sha256": hashlib.sha256(extra).hexdigest()}
    forged2 = _rewrite(buffer, {"manifest.json": json.dumps(manifest2).encode()})
    with zipfile.ZipFile(forged2, "a") as zf:
        zf.writestr("changes/CHG-EMG-20990101-0000.json", extra)
    forged2.seek(0)
    assert audit_export_verify(source=forged2).ok
    against = audit_export_verify(source=forged2, against_chain=True)
    assert against.problems == ["no audit.exported event records this manifest: it was not produced by this portal"]


def test_verification_reports_missing_and_unlisted_files(changes, auditor):
    _, buffer = _export(auditor)
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            if name != "users.json":
                dst.writestr(name, src.read(name))
        dst.writestr("notes.txt", b"hello")
    out.seek(0)
    problems = audit_export_verify(source=out).problems
    assert problems == ["notes.txt: not listed in the manifest", "users.json: listed in the manifest but missing"]
    assert audit_export_verify(source=io.BytesIO(b"not a zip")).problems[0].startswith("not a readable zip file")


def test_bad_range_and_wrong_roles_are_refused_and_write_nothing(changes, oncall):
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        _export(None, date_from=date(2026, 4, 1), date_to=date(2026, 3, 1))
    with pytest.raises(PermissionDenied):
        _export(oncall)
    assert AuditEvent.objects.count() == events


def test_export_reads_are_set_based(oncall, auditor, django_assert_max_num_queries):
    file_stub(oncall, now=DAY)
    # One or two queries per kind of record (the CCB's sessions, members, votes, gate decisions, status
    # updates and regulatory notifications included), never per row.
    with django_assert_max_num_queries(80) as one:
        _export(auditor)
    for i in range(12):
        file_stub(oncall, now=DAY + timedelta(minutes=i + 1))
    with django_assert_max_num_queries(len(one.captured_queries)):
        summary, _ = _export(auditor)
    assert summary.changes == 13


def test_commands_export_and_verify(changes, tmp_path, capsys, auditor):
    out = tmp_path / "export.zip"
    call_command("export_audit", "2026-03-01", "2026-03-31", "--out", str(out), "--as", "auditor")
    assert "2 changes" in capsys.readouterr().out
    assert AuditEvent.objects.get(action="audit.exported").actor == auditor
    call_command("verify_audit_export", str(out), "--against-chain")
    assert "Export intact" in capsys.readouterr().out

    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(_rewrite(io.BytesIO(out.read_bytes()), {"users.json": b"[]"}).getvalue())
    with pytest.raises(SystemExit) as exc:
        call_command("verify_audit_export", str(tampered))
    assert exc.value.code == 1
    assert "users.json: SHA-256 does not match the manifest" in capsys.readouterr().err

    with pytest.raises(CommandError, match="exists"):
        call_command("export_audit", "2026-03-01", "2026-03-31", "--out", str(out))
    with pytest.raises(CommandError, match="before its start"):
        call_command("export_audit", "2026-03-31", "2026-03-01", "--out", str(tmp_path / "x.zip"))
    assert not (tmp_path / "x.zip").exists()
    with pytest.raises(CommandError, match="not a date"):
        call_command("export_audit", "March", "2026-03-01", "--out", str(tmp_path / "y.zip"))


@pytest.mark.parametrize(
    ("role", "allowed"), [(Role.QMS, True), (Role.AUDITOR, True), (Role.ONCALL, False), (Role.EXECUTIVE, False)]
)
def test_export_page(client, make_user, changes, role, allowed):
    client.force_login(make_user(role))
    url = reverse("audits:export")
    page = client.get(url)
    assert page.status_code == (200 if allowed else 403)
    response = client.post(url, {"date_from": "2026-03-01", "date_to": "2026-03-31"})
    if not allowed:
        assert response.status_code == 403
        assert not AuditEvent.objects.filter(action="audit.exported").exists()
        return
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "qms-audit-export-20260301-20260331.zip" in response["Content-Disposition"]
    data = b"".join(response.streaming_content)
    assert audit_export_verify(source=io.BytesIO(data), against_chain=True).ok
    bad = client.post(url, {"date_from": "2026-03-31", "date_to": "2026-03-01"})
    assert bad.status_code == 400
    assert "before its start" in bad.content.decode()
    assert AuditEvent.objects.filter(action="audit.exported").count() == 1


def test_change_trail_page_shows_every_event_and_history_row(client, changes, auditor, make_user):
    inside = changes[0]
    client.force_login(auditor)
    page = client.get(reverse("audits:change-trail", args=[inside.identifier]))
    assert page.status_code == 200
    body = page.content.decode()
    assert "change.start_hotfix" in body
    assert "patching" in body
    assert "emergency stub filed" in body
    detail = client.get(inside.get_absolute_url()).content.decode()
    assert reverse("audits:change-trail", args=[inside.identifier]) in detail
    client.force_login(make_user())  # no role: the change does not exist for them
    assert client.get(reverse("audits:change-trail", args=[inside.identifier])).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_export_outside_a_transaction_reads_one_snapshot_and_records_itself(oncall, auditor, tmp_path):
    file_stub(oncall, now=DAY)
    out = tmp_path / "export.zip"
    call_command("export_audit", "2026-03-01", "2026-03-31", "--out", str(out))
    assert AuditEvent.objects.get(action="audit.exported").actor_name == "system"
    assert audit_export_verify(source=out, against_chain=True).ok
