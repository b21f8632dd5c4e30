"""What the auditor's export carries to stand on its own: the chain segment and its signed checkpoints
(verified with only the zip and the public key), the control index and the one-page summaries."""

import hashlib
import io
import json
import zipfile
from datetime import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.utils import timezone
from pypdf import PdfReader

from audits.checkpoints.keys import document_sign, public_key_load
from audits.checkpoints.services import checkpoint_bytes
from audits.exports import audit_export_verify, audit_export_write
from audits.models import AuditCheckpoint
from audits.services import audit_values_digest
from qms.models import Signature
from tests.factories import close_emergency, file_stub

pytestmark = pytest.mark.django_db


def _export(actor=None):
    today = timezone.now().date()
    buffer = io.BytesIO()
    audit_export_write(date_from=today, date_to=today, actor=actor, out=buffer)
    buffer.seek(0)
    return buffer


def _read(buffer) -> dict[str, bytes]:
    with zipfile.ZipFile(buffer) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(files: dict[str, bytes], *, fix_manifest: bool = True) -> io.BytesIO:
    """A copy of the export with files replaced, its manifest rewritten to match: a careful forger's work."""
    files = dict(files)
    if fix_manifest:
        manifest = json.loads(files["manifest.json"])
        manifest["files"] = {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
            for name, data in files.items()
            if name != "manifest.json"
        }
        files["manifest.json"] = json.dumps(manifest).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    out.seek(0)
    return out


def _segment(files) -> tuple[str, list[dict]]:
    name = next(n for n in files if n.startswith("chain/events-"))
    return name, [json.loads(line) for line in files[name].splitlines()]


def _rechain(rows: list[dict]) -> list[dict]:
    prev = rows[0]["prev_hash"]
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = audit_values_digest({**row, "occurred_at": datetime.fromisoformat(row["occurred_at"])})
    return rows


def _lines(rows) -> bytes:
    return b"".join(
        json.dumps(r, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode() + b"\n" for r in rows
    )


def _pointer(document, pointer: str):
    """RFC 6901, as much as the index uses."""
    for part in pointer.lstrip("/").split("/") if pointer != "" else []:
        part = part.replace("~1", "/").replace("~0", "~")
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


@pytest.fixture
def closed(oncall):
    change = file_stub(oncall)
    close_emergency(change)
    return change


# --- the chain segment and its checkpoints -----------------------------------------------------------


def test_the_export_signs_a_checkpoint_first_and_verifies_with_the_public_key_alone(
    checkpoint_key, closed, auditor, tmp_path, capsys
):
    buffer = _export(auditor)
    checkpoint = AuditCheckpoint.objects.get()
    files = _read(buffer)
    manifest = json.loads(files["manifest.json"])
    assert manifest["chain"]["checkpoint_files"] == ["chain/checkpoints/checkpoint-000000000001.json"]
    assert manifest["chain"]["to_position"] == checkpoint.position == manifest["chain_head"]["position"]
    assert files["chain/checkpoints/checkpoint-000000000001.json"] == checkpoint_bytes(checkpoint.document)
    result = audit_export_verify(source=buffer, public_key=public_key_load(checkpoint_key))
    assert result.ok, result.problems
    assert result.checkpoints_checked == 1 and result.notes == []

    path = tmp_path / "export.zip"
    path.write_bytes(buffer.getvalue())
    call_command("verify_audit_export", str(path), "--public-key", str(checkpoint_key))
    out = capsys.readouterr().out
    assert "Export intact" in out and "1 signed checkpoint(s) match" in out


def test_without_the_key_the_segment_is_checked_and_the_signatures_are_said_not_to_be(checkpoint_key, closed):
    result = audit_export_verify(source=_export())
    assert result.ok and any("--public-key" in note for note in result.notes)


def test_a_consistently_rewritten_export_passes_without_the_key_and_fails_with_it(checkpoint_key, closed):
    files = _read(_export())
    name, rows = _segment(files)
    record_name = f"changes/{closed.identifier}.json"
    record = json.loads(files[record_name])
    target = next(i for i, r in enumerate(rows) if r["action"] == "change.deploy")
    rows[target]["reason"] = "deployed after full testing"
    rows = _rechain(rows)
    by_position = {r["position"]: r for r in rows}
    record["events"] = [by_position[e["position"]] for e in record["events"]]
    forged = {**files, name: _lines(rows), record_name: json.dumps(record).encode()}
    manifest = json.loads(forged["manifest.json"])
    manifest["chain_head"]["hash"] = rows[-1]["hash"]
    forged["manifest.json"] = json.dumps(manifest).encode()

    assert audit_export_verify(source=_zip(forged)).ok  # consistent on its own
    result = audit_export_verify(source=_zip(forged), public_key=public_key_load(checkpoint_key))
    assert not result.ok
    assert "is not the one checkpoint 1 signed" in result.problems[0]


def test_an_export_whose_chain_lost_its_tail_fails(checkpoint_key, oncall):
    file_stub(oncall)
    files = _read(_export())
    name, rows = _segment(files)
    manifest = json.loads(files["manifest.json"])
    manifest["chain"]["to_position"] = manifest["chain_head"]["position"] = rows[-3]["position"]
    manifest["chain_head"]["hash"] = rows[-3]["hash"]
    cut = {**files, name: _lines(rows[:-2]), "manifest.json": json.dumps(manifest).encode()}
    result = audit_export_verify(source=_zip(cut), public_key=public_key_load(checkpoint_key))
    assert not result.ok
    assert "events were removed from its tail" in " ".join(result.problems)


def test_a_checkpoint_removed_from_the_export_leaves_a_gap(checkpoint_key, oncall):
    from audits.checkpoints.services import audit_checkpoint_write

    file_stub(oncall)
    audit_checkpoint_write()
    file_stub(oncall)
    files = _read(_export())  # checkpoints 1 and 2 (the export's own)
    assert "chain/checkpoints/checkpoint-000000000002.json" in files
    file_stub(oncall)
    files_later = _read(_export())  # 1, 2, 3
    del files_later["chain/checkpoints/checkpoint-000000000002.json"]
    manifest = json.loads(files_later["manifest.json"])
    manifest["chain"]["checkpoint_files"].remove("chain/checkpoints/checkpoint-000000000002.json")
    files_later["manifest.json"] = json.dumps(manifest).encode()
    result = audit_export_verify(source=_zip(files_later), public_key=public_key_load(checkpoint_key))
    assert "checkpoints 2 to 2 are missing (a gap between 1 and 3)" in result.problems


def test_checkpoints_re_signed_with_another_key_fail(checkpoint_key, closed):
    files = _read(_export())
    forger = Ed25519PrivateKey.generate()
    name = "chain/checkpoints/checkpoint-000000000001.json"
    document = json.loads(files[name])
    forged = {**files, name: checkpoint_bytes(document_sign(document, forger))}
    result = audit_export_verify(source=_zip(forged), public_key=public_key_load(checkpoint_key))
    assert not result.ok and "signed with another key" in result.problems[0]


def test_an_edited_summary_pdf_fails_the_manifest(checkpoint_key, closed):
    files = _read(_export())
    name = f"summaries/{closed.identifier}.pdf"
    result = audit_export_verify(source=_zip({**files, name: files[name] + b"%"}, fix_manifest=False))
    assert result.problems == [f"{name}: SHA-256 does not match the manifest"]


# --- the control index -------------------------------------------------------------------------------


def test_the_control_index_points_at_the_records_of_a_closed_change(closed, auditor):
    files = _read(_export(auditor))
    index = json.loads(files["controls/index.json"])
    manifest = json.loads(files["manifest.json"])
    assert "controls/index.json" in manifest["files"]
    assert set(index["controls"]) == {"SOC2-CC8.1", "HIPAA-164.312(b)", "21CFR11-11.50", "21CFR11-11.70"}
    record = json.loads(files[f"changes/{closed.identifier}.json"])

    # The closed change and the preventive follow-up change its post-mortem opened.
    (cc81,) = [c for c in index["controls"]["SOC2-CC8.1"]["changes"] if c["change"] == closed.identifier]
    assert cc81["change"] == closed.identifier and cc81["missing"] == []
    assert cc81["summary"] in files
    for step, entries in cc81["steps"].items():
        assert entries, step
        for entry in entries:
            target = _pointer(json.loads(files[entry["file"]]), entry["pointer"])
            assert entry["who"], (step, entry)
            if entry["pointer"].startswith("/events/"):
                assert (target["actor_name"], target["occurred_at"]) == (entry["who"], entry["when"])
                assert target["position"] == entry["chain_position"]
            else:
                assert entry["when"] == target.get("validated_at", target.get("signed_at")), entry
    actions = {step: {e["what"].split(":")[0] for e in entries} for step, entries in cc81["steps"].items()}
    assert "change.authorize_bypass" in actions["authorisation"]
    assert "change.hotfix_reviewed" in actions["testing"]
    assert "signature.approved" in actions["approval"]
    assert "change.deploy" in actions["deployment"]
    assert {"post_mortem.approve", "change.close"} <= actions["post_implementation_review"]

    signatures = Signature.objects.order_by("pk")
    manifestations = index["controls"]["21CFR11-11.50"]["signatures"]
    assert [m["printed_name"] for m in manifestations] == [s.signer_name for s in signatures]
    for m, s in zip(manifestations, signatures, strict=True):
        row = _pointer(record, m["pointer"])
        assert row["id"] == s.pk and m["meaning"] == s.get_meaning_display() and m["signed_at"] == row["signed_at"]
    for link, s in zip(index["controls"]["21CFR11-11.70"]["links"], signatures, strict=True):
        assert link["content_sha256"] == s.content_hash
        signed = _pointer(record, link["record"])
        assert signed["id"] == s.subject_id and link["record_label"] == s.subject_label
        event = _pointer(record, link["chained_event"])
        assert event["action"].startswith("signature.") and event["position"] == link["chain_position"]

    hipaa = index["controls"]["HIPAA-164.312(b)"]
    assert all(name in files for name in hipaa["chain"]["event_files"])
    (trail,) = [c for c in hipaa["changes"] if c["change"] == closed.identifier]
    assert _pointer(record, trail["events"]) == record["events"] and trail["count"] == len(record["events"])


def test_the_index_says_what_an_open_change_still_lacks(oncall):
    change = file_stub(oncall)
    index = json.loads(_read(_export())["controls/index.json"])
    (entry,) = index["controls"]["SOC2-CC8.1"]["changes"]
    assert entry["change"] == change.identifier
    assert entry["missing"] == ["authorisation", "testing", "approval", "deployment", "post_implementation_review"]


# --- the one-page summary ----------------------------------------------------------------------------


def _text(pdf: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(pdf))
    return len(reader.pages), " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def test_the_summary_is_one_page_that_says_what_the_record_says(closed, auditor):
    files = _read(_export(auditor))
    record = json.loads(files[f"changes/{closed.identifier}.json"])
    pages, text = _text(files[f"summaries/{closed.identifier}.pdf"])
    flat = "".join(text.split())
    assert pages == 1
    assert closed.identifier in text and closed.title in text
    assert "Closed" in text
    for signature in record["signatures"]:
        assert signature["signer_name"] in text
        assert signature["content_hash"] in flat
    deployed = datetime.fromisoformat(record["change"]["deployed_at"].replace("Z", "+00:00"))
    assert deployed.strftime("%Y-%m-%d %H:%M:%S") in text
    for label in ("Authorisation", "Testing evidence", "Approval", "Deployment", "Post-implementation review"):
        assert "".join(label.split()) in flat
    assert "no evidence recorded" not in text
    manifest = json.loads(files["manifest.json"])
    assert manifest["files"][f"changes/{closed.identifier}.json"]["sha256"] in flat


def test_the_summary_prints_hostile_text_as_text(oncall):
    change = file_stub(oncall, title="<b>Fine</b> & ## Signatures - [x] done")
    pages, text = _text(_read(_export())[f"summaries/{change.identifier}.pdf"])
    assert pages == 1
    assert "<b>Fine</b> & ## Signatures - [x] done" in text
    assert text.count("no evidence recorded") == 5


def test_a_chain_section_naming_files_not_in_the_zip_is_a_problem_not_a_crash(checkpoint_key, closed):
    files = _read(_export())
    manifest = json.loads(files["manifest.json"])
    manifest["chain"]["checkpoint_files"].append("chain/checkpoints/checkpoint-000000000009.json")
    forged = _zip({**files, "manifest.json": json.dumps(manifest).encode()})
    result = audit_export_verify(source=forged, public_key=public_key_load(checkpoint_key))
    assert result.problems == [
        "chain/checkpoints/checkpoint-000000000009.json: named by the manifest's chain section but not in the zip"
    ]


def test_an_auditor_verifies_with_the_zip_and_the_key_and_no_database(checkpoint_key, closed, tmp_path):
    """The command run as an auditor would: a checkout, the zip, the published key, and no database at all."""
    import os
    import subprocess
    import sys

    from django.conf import settings

    path = tmp_path / "export.zip"
    path.write_bytes(_export().getvalue())
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none", "DJANGO_SETTINGS_MODULE": "qms.settings"}
    command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "verify_audit_export", str(path)]
    run = subprocess.run([*command, "--public-key", str(checkpoint_key)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "Export intact" in run.stdout and "signed checkpoint(s) match" in run.stdout
    other = tmp_path / "other.pem"
    call_command("audit_checkpoint_keygen", "--out", str(other))
    run = subprocess.run([*command, "--public-key", f"{other}.pub"], env=env, capture_output=True, text=True)
    assert run.returncode == 1 and "signed with another key" in run.stderr
