"""Signed checkpoints of the audit chain: golden vectors, writing them, and verifying against them."""

import filecmp
import json
import os
import stat
import time
from datetime import datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audits.checkpoints.keys import default_public_key, document_signature_valid, public_key_load
from audits.checkpoints.services import (
    CheckpointRefused,
    audit_chain_verify_incremental,
    audit_checkpoint_write,
    checkpoint_bytes,
)
from audits.checkpoints.sinks import CheckpointExists, FolderSink
from audits.checkpoints.verify import AnchoredReport, chain_check, checkpoint_parse, checkpoints_check
from audits.models import AuditChainHead, AuditCheckpoint, AuditEvent
from audits.services import audit_chain_verify, audit_event_record
from qms.celery import app
from tests.audits import checkpoint_vectors
from tests.conftest import requires_postgres
from tests.factories import file_stub

VECTORS = checkpoint_vectors.ROOT
VECTOR_NAMES = sorted(checkpoint_vectors.EXPECTED)


def _vector(name: str) -> tuple[list[dict], list[dict], dict]:
    folder = VECTORS / name
    rows = [json.loads(line) for line in (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    problems: list[str] = []
    documents = [checkpoint_parse(n, d, problems) for n, d in FolderSink(folder / "checkpoints").documents()]
    assert not problems
    return rows, documents, json.loads((folder / "expected.json").read_text())


# --- golden vectors, on plain data -------------------------------------------------------------------


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_golden_vector(name):
    rows, documents, expected = _vector(name)
    checkpoints, problems = checkpoints_check(documents, public_key_load(VECTORS / "public-key.pem"))
    report = chain_check(rows, checkpoints, AnchoredReport(problems=problems))
    assert report.ok is expected["ok"], report.problems
    said = (
        report.problems
        if not expected["ok"]
        else [*report.notes, f"{report.checkpoints_checked} checkpoint(s) matched"]
    )
    assert any(expected["contains"] in line for line in said), said
    if expected["ok"]:
        assert report.checkpoints_checked == 3 and report.head_position == len(rows)


def test_every_tampering_kind_has_a_failing_vector():
    failing = {n for n, (ok, _) in checkpoint_vectors.EXPECTED.items() if not ok}
    assert {
        "flipped-byte",
        "deleted-middle-event",
        "truncated-tail",
        "resigned-forged-chain",
        "checkpoint-gap",
    } <= failing


def test_the_committed_vectors_are_what_the_generator_writes(tmp_path):
    checkpoint_vectors.build(tmp_path / "vectors")
    comparison = filecmp.dircmp(VECTORS, tmp_path / "vectors")

    def differences(cmp) -> list[str]:
        found = cmp.left_only + cmp.right_only + cmp.diff_files
        for sub in cmp.subdirs.values():
            found += differences(sub)
        return found

    assert differences(comparison) == []


def test_the_forged_vector_verifies_with_the_forgers_key_only():
    """The re-signed chain is internally consistent: only the published key tells it apart."""
    rows, documents, _ = _vector("resigned-forged-chain")
    forger = public_key_load(VECTORS / "other-key.pem")
    checkpoints, problems = checkpoints_check(documents, forger)
    assert problems == [] and chain_check(rows, checkpoints, AnchoredReport()).ok


# --- the same vectors through the command, from the database -----------------------------------------


def _load_into_database(rows: list[dict]) -> None:
    AuditEvent.objects.bulk_create(
        AuditEvent(**{**row, "occurred_at": datetime.fromisoformat(row["occurred_at"])}) for row in rows
    )
    last = rows[-1]
    AuditChainHead.objects.update_or_create(pk=1, defaults={"position": last["position"], "hash": last["hash"]})


@pytest.mark.django_db
@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_golden_vector_through_verify_audit_chain(name, capsys):
    assert not AuditEvent.objects.exists()
    rows, _, expected = _vector(name)
    _load_into_database(rows)
    args = [
        "--against-checkpoints",
        str(VECTORS / name / "checkpoints"),
        "--public-key",
        str(VECTORS / "public-key.pem"),
    ]
    if expected["ok"]:
        call_command("verify_audit_chain", *args)
        assert "Audit chain intact" in capsys.readouterr().out
    else:
        with pytest.raises(SystemExit) as exit_:
            call_command("verify_audit_chain", *args)
        assert exit_.value.code == 1
        assert expected["contains"] in capsys.readouterr().err


# --- writing checkpoints -----------------------------------------------------------------------------


def _tamper(sql, params):
    """What a database superuser could do behind the portal's back: bypass the append-only triggers."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


@pytest.mark.django_db
def test_a_checkpoint_signs_the_head_outside_the_database_and_names_the_one_before(checkpoint_key, oncall, settings):
    file_stub(oncall)
    first = audit_checkpoint_write()
    file_stub(oncall)
    second = audit_checkpoint_write()
    head = AuditChainHead.objects.get(pk=1)
    assert (first.sequence, second.sequence) == (1, 2)
    assert (second.position, second.head_hash) == (head.position, head.hash)
    files = sorted(Path(settings.QMS_CHECKPOINT_DIR).iterdir())
    assert [f.name for f in files] == ["checkpoint-000000000001.json", "checkpoint-000000000002.json"]
    document = json.loads(files[1].read_bytes())
    assert document == second.document
    assert files[1].read_bytes() == checkpoint_bytes(document)
    assert document["previous_signature"] == first.signature and document["previous_sequence"] == 1
    assert document["event_count"] == head.position
    assert document["last_event_id"] == AuditEvent.objects.get(position=head.position).pk
    published = public_key_load(checkpoint_key)
    assert document_signature_valid(document, published)
    assert not document_signature_valid({**document, "position": head.position - 1}, published)
    assert not os.stat(files[1]).st_mode & stat.S_IWUSR  # written read-only


@pytest.mark.django_db
def test_keygen_command_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path, capsys):
    path = tmp_path / "signing.pem"
    call_command("audit_checkpoint_keygen", "--out", str(path))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert public_key_load(tmp_path / "signing.pem.pub")
    assert "Key id" in capsys.readouterr().out
    before = path.read_bytes()
    with pytest.raises(CommandError, match="never overwritten"):
        call_command("audit_checkpoint_keygen", "--out", str(path))
    assert path.read_bytes() == before


@pytest.mark.django_db
def test_checkpoint_command_on_demand_and_without_a_key(checkpoint_key, settings, oncall, capsys):
    file_stub(oncall)
    call_command("audit_checkpoint")
    assert "Checkpoint 1: chain head #" in capsys.readouterr().out
    settings.QMS_CHECKPOINT_KEY = Path(settings.QMS_CHECKPOINT_KEY).with_name("missing.pem")
    with pytest.raises(CommandError, match="audit_checkpoint_keygen"):
        call_command("audit_checkpoint")
    assert AuditCheckpoint.objects.count() == 1


def test_the_hourly_beat_entry_runs_the_checkpoint_task():
    app.loader.import_default_modules()
    entry = app.conf.beat_schedule["audit-checkpoint"]
    assert entry["task"] == "audits.tasks.audit_checkpoint_task" in app.tasks
    assert entry["schedule"].minute == {5} and len(entry["schedule"].hour) == 24


@pytest.mark.django_db
def test_the_task_writes_a_checkpoint_and_logs_when_it_cannot(checkpoint_key, settings, oncall, caplog):
    from audits.tasks import audit_checkpoint_task

    file_stub(oncall)
    assert audit_checkpoint_task() == 1
    settings.QMS_CHECKPOINT_KEY = Path(settings.QMS_CHECKPOINT_KEY).with_name("missing.pem")
    assert audit_checkpoint_task() is None
    assert "No audit checkpoint written" in caplog.text


@pytest.mark.django_db
def test_no_checkpoint_is_signed_over_a_broken_chain(checkpoint_key, oncall):
    file_stub(oncall)
    target = AuditEvent.objects.order_by("position")[1]
    _tamper("UPDATE audits_auditevent SET reason = %s WHERE id = %s", ["nothing happened", target.pk])
    with pytest.raises(CheckpointRefused, match=f"event #{target.position} was altered"):
        audit_checkpoint_write()
    assert not AuditCheckpoint.objects.exists()
    assert not any(Path(checkpoint_key).parent.parent.joinpath("checkpoints").glob("*.json"))


def test_the_folder_sink_never_overwrites(tmp_path):
    sink = FolderSink(tmp_path)
    sink.put(sequence=1, data=b"first")
    with pytest.raises(CheckpointExists):
        sink.put(sequence=1, data=b"second")
    assert sink.get(sequence=1) == b"first"
    assert [name for name, _ in sink.documents()] == ["checkpoint-000000000001.json"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".incoming-")]


@pytest.mark.django_db
def test_a_checkpoint_left_in_the_sink_by_a_failed_commit_is_adopted_not_overwritten(checkpoint_key, oncall):
    file_stub(oncall)
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_checkpoint_write()
        raise RuntimeError("the commit fails after the file was written")
    assert not AuditCheckpoint.objects.exists()
    file_stub(oncall)
    latest = audit_checkpoint_write()
    assert latest.sequence == 2
    assert AuditCheckpoint.objects.get(sequence=1).location.endswith("(adopted)")
    assert latest.document["previous_signature"] == AuditCheckpoint.objects.get(sequence=1).signature


@requires_postgres
@pytest.mark.django_db
def test_stored_checkpoints_are_append_only(checkpoint_key, oncall):
    file_stub(oncall)
    checkpoint = audit_checkpoint_write()
    for sql in ("UPDATE audits_auditcheckpoint SET position = 1", "DELETE FROM audits_auditcheckpoint"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditCheckpoint.objects.get().position == checkpoint.position


# --- verifying the database's chain against checkpoints ----------------------------------------------


@pytest.mark.django_db
def test_a_truncated_tail_passes_the_hash_chain_and_fails_against_the_checkpoints(checkpoint_key, oncall, settings):
    for _ in range(2):
        file_stub(oncall)
    audit_checkpoint_write()
    head = AuditChainHead.objects.get(pk=1)
    keep = head.position - 3
    kept_hash = AuditEvent.objects.get(position=keep).hash
    _tamper("DELETE FROM audits_auditevent WHERE position > %s", [keep])
    _tamper("UPDATE audits_auditchainhead SET position = %s, hash = %s", [keep, kept_hash])
    assert audit_chain_verify().ok  # the hash chain alone cannot see it
    with pytest.raises(SystemExit):
        call_command(
            "verify_audit_chain",
            "--against-checkpoints",
            str(settings.QMS_CHECKPOINT_DIR),
            "--public-key",
            str(checkpoint_key),
        )
    report = audit_chain_verify_incremental()
    assert not report.ok and "removed from the chain's tail" in report.problems[0]


@pytest.mark.django_db
def test_verification_against_the_folder_passes_and_reports_its_speed(checkpoint_key, oncall, settings, capsys):
    file_stub(oncall)
    audit_checkpoint_write()
    file_stub(oncall)
    call_command("verify_audit_chain", "--against-checkpoints", str(settings.QMS_CHECKPOINT_DIR))
    out = capsys.readouterr().out
    assert "Audit chain intact" in out and "events/s" in out and "1 checkpoint(s) matched" in out
    assert "not covered by a checkpoint yet" in out


@pytest.mark.django_db
def test_the_daily_verification_task_checks_against_the_sink(checkpoint_key, oncall, caplog):
    from audits.tasks import audit_chain_verify_task

    file_stub(oncall)
    audit_checkpoint_write()
    assert audit_chain_verify_task() is True
    target = AuditEvent.objects.order_by("position")[0]
    _tamper("UPDATE audits_auditevent SET reason = %s WHERE id = %s", ["rewritten", target.pk])
    assert audit_chain_verify_task() is False
    assert "does not verify against its checkpoints" in caplog.text


# --- incremental verification ------------------------------------------------------------------------


@pytest.mark.django_db
def test_incremental_verification_walks_only_what_came_after_the_last_checkpoint(checkpoint_key, oncall, capsys):
    for _ in range(3):
        file_stub(oncall)
    checkpoint = audit_checkpoint_write()
    with transaction.atomic():
        for i in range(500):
            audit_event_record(action="test.appended", reason=f"event {i}")
    started = time.perf_counter()
    report = audit_chain_verify_incremental()
    elapsed = time.perf_counter() - started
    assert report.ok, report.problems
    assert report.checked == 500 and report.head_position == checkpoint.position + 500
    assert elapsed < 1.0
    call_command("verify_audit_chain", "--incremental")
    assert "500 events verified" in capsys.readouterr().out


@pytest.mark.django_db
def test_incremental_verification_catches_a_change_after_and_at_the_checkpoint(checkpoint_key, oncall):
    file_stub(oncall)
    checkpoint = audit_checkpoint_write()
    file_stub(oncall)
    after = AuditEvent.objects.filter(position__gt=checkpoint.position).order_by("position")[2]
    _tamper("UPDATE audits_auditevent SET reason = %s WHERE id = %s", ["edited", after.pk])
    assert f"event #{after.position} was altered" in audit_chain_verify_incremental().problems[0]
    at = AuditEvent.objects.get(position=checkpoint.position)
    _tamper("UPDATE audits_auditevent SET reason = %s WHERE id = %s", ["edited", at.pk])
    assert f"event #{checkpoint.position} was altered" in audit_chain_verify_incremental().problems[0]


@pytest.mark.django_db
def test_a_checkpoint_forged_into_the_database_is_not_trusted(checkpoint_key, oncall):
    file_stub(oncall)
    real = audit_checkpoint_write()
    forged = {**real.document, "sequence": 2, "position": 1}
    AuditCheckpoint.objects.create(
        sequence=2,
        position=1,
        head_hash=real.head_hash,
        created_at=real.created_at,
        key_id=real.key_id,
        signature=real.signature,
        document=forged,
    )
    assert (
        "stored checkpoint 2 does not verify"
        in audit_chain_verify_incremental(public_key=default_public_key()).problems[0]
    )
