"""Writing checkpoints and verifying the chain from them (the database side of ``audits.checkpoints``)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audits.checkpoints.keys import (
    CheckpointKeyError,
    default_public_key,
    document_sign,
    document_signature_valid,
    key_pair_generate,
    private_key_load,
    private_key_path,
)
from audits.checkpoints.sinks import CheckpointExists, CheckpointSink, checkpoint_sink
from audits.checkpoints.verify import (
    CHECKPOINT_FORMAT,
    AnchoredReport,
    chain_check,
    checkpoint_parse,
    checkpoints_check,
)
from audits.models import AuditChainHead, AuditCheckpoint, AuditEvent
from audits.services.trail import GENESIS, HASHED_FIELDS, _head_for_update

logger = logging.getLogger(__name__)
ROW_FIELDS = (*HASHED_FIELDS, "hash")


class CheckpointRefused(Exception):
    """No checkpoint is signed over a chain that does not verify."""


def checkpoint_bytes(document: dict) -> bytes:
    return (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def chain_rows(*, after: int = 0, upto: int | None = None, chunk_size: int = 5000) -> Iterator[dict]:
    qs = AuditEvent.objects.filter(position__gt=after).order_by("position")
    if upto is not None:
        qs = qs.filter(position__lte=upto)
    return qs.values(*ROW_FIELDS).iterator(chunk_size=chunk_size)


def _signing_key() -> Ed25519PrivateKey:
    path = private_key_path()
    if not path.exists() and settings.DEBUG:
        # The zero-setup run signs with a key of its own; production generates and publishes one on purpose.
        path.parent.mkdir(parents=True, exist_ok=True)
        key_pair_generate(path=path)
        logger.warning("Generated a checkpoint signing key at %s (DEBUG only).", path)
    return private_key_load(path)


def _head_check(report: AnchoredReport) -> None:
    head = AuditChainHead.objects.filter(pk=1).first()
    if report.ok and head is not None and (head.position, head.hash) != (report.head_position, report.head_hash):
        report.problems.append(f"the chain ends at #{report.head_position} but its head names #{head.position}")


def _latest_trusted(public_key: Ed25519PublicKey) -> tuple[AuditCheckpoint | None, list[str]]:
    """The newest stored checkpoint whose signature holds (one forged into the database is not trusted)."""
    latest = AuditCheckpoint.objects.order_by("-sequence").first()
    if latest is None:
        return None, []
    if not document_signature_valid(latest.document, public_key):
        return None, [f"stored checkpoint {latest.sequence} does not verify with the public key"]
    return latest, []


def audit_chain_verify_incremental(*, public_key: Ed25519PublicKey | None = None) -> AnchoredReport:
    """Verify only what was appended since the newest checkpoint (which was signed over a verified chain):
    the checkpoint's own event must still be the one it signed, then every event after it."""
    started = time.perf_counter()
    public_key = public_key or default_public_key()
    latest, problems = _latest_trusted(public_key)
    report = AnchoredReport(problems=problems)
    if report.problems:
        return report
    start_position, start_hash, checkpoints = 0, GENESIS, []
    if latest is not None:
        start_position, start_hash, checkpoints = latest.position, latest.head_hash, [latest.document]
        if latest.position:
            anchor = next(chain_rows(after=latest.position - 1, upto=latest.position), None)
            if anchor is None:
                report.problems.append(
                    f"event #{latest.position}, which checkpoint {latest.sequence} covers, is missing: "
                    "events were removed from the chain's tail"
                )
                return report
            report = chain_check(
                [anchor], checkpoints, report, start_position=latest.position - 1, start_hash=anchor["prev_hash"]
            )
            report.checked = 0
            if not report.ok:
                return report
    chain_check(
        chain_rows(after=start_position), checkpoints, report, start_position=start_position, start_hash=start_hash
    )
    _head_check(report)
    report.seconds = time.perf_counter() - started
    return report


def sink_checkpoints(sink: CheckpointSink | None = None) -> tuple[list[dict], list[str]]:
    problems: list[str] = []
    documents = [
        d for name, data in (sink or checkpoint_sink()).documents() if (d := checkpoint_parse(name, data, problems))
    ]
    return documents, problems


def audit_chain_verify_against(*, documents: list[dict], public_key: Ed25519PublicKey) -> AnchoredReport:
    """Walk the whole chain in the database and check it against every checkpoint given (a folder's)."""
    started = time.perf_counter()
    checkpoints, problems = checkpoints_check(documents, public_key)
    report = AnchoredReport(problems=problems)
    if not checkpoints and not problems:
        report.problems.append("no checkpoints to verify against")
    chain_check(chain_rows(), checkpoints, report)
    _head_check(report)
    report.seconds = time.perf_counter() - started
    return report


def _document(*, sequence: int, head: AuditChainHead, previous: AuditCheckpoint | None, now: datetime) -> dict:
    last_event_id = AuditEvent.objects.filter(position=head.position).values_list("pk", flat=True).first()
    return {
        "format": CHECKPOINT_FORMAT,
        "sequence": sequence,
        "position": head.position,
        "head_hash": head.hash,
        "event_count": head.position,
        "last_event_id": last_event_id,
        "created_at": now.astimezone(UTC).isoformat(),
        "previous_sequence": previous.sequence if previous else None,
        "previous_signature": previous.signature if previous else None,
    }


def _row(document: dict, location: str) -> AuditCheckpoint:
    return AuditCheckpoint.objects.create(
        sequence=document["sequence"],
        position=document["position"],
        head_hash=document["head_hash"],
        created_at=datetime.fromisoformat(document["created_at"]),
        key_id=document["key_id"],
        signature=document["signature"],
        document=document,
        location=location,
    )


def audit_checkpoint_write(*, now: datetime | None = None, sink: CheckpointSink | None = None) -> AuditCheckpoint:
    """Sign the chain's head and write it to the sink and the database: verified first, incrementally from
    the last checkpoint, so a broken chain is never signed (``CheckpointRefused``). Safe to run twice at once:
    the head row's lock orders writers, and a sequence number is used once."""
    key = _signing_key()
    sink = sink or checkpoint_sink()
    report = audit_chain_verify_incremental(public_key=key.public_key())
    if not report.ok:
        raise CheckpointRefused("; ".join(report.problems))
    with transaction.atomic():
        head = _head_for_update()  # appends wait the few milliseconds this takes
        # What was appended after the verification above, before the lock.
        tail = AnchoredReport()
        chain_check(
            chain_rows(after=report.head_position, upto=head.position),
            [],
            tail,
            start_position=report.head_position,
            start_hash=report.head_hash,
        )
        if not tail.ok or (tail.head_position, tail.head_hash) != (head.position, head.hash):
            raise CheckpointRefused("; ".join(tail.problems) or "the chain's head does not match its last event")
        previous = AuditCheckpoint.objects.order_by("-sequence").first()
        while True:
            sequence = previous.sequence + 1 if previous else 1
            document = document_sign(
                _document(sequence=sequence, head=head, previous=previous, now=now or timezone.now()), key
            )
            try:
                location = sink.put(sequence=sequence, data=checkpoint_bytes(document))
            except CheckpointExists:
                previous = _adopt(sink=sink, sequence=sequence, previous=previous, public_key=key.public_key())
                continue
            return _row(document, location)


def _adopt(*, sink: CheckpointSink, sequence: int, previous: AuditCheckpoint | None, public_key) -> AuditCheckpoint:
    """The sink holds a checkpoint the database does not (written, then its transaction failed): take it into
    the series if it is ours and follows on, rather than leave a gap or overwrite it."""
    problems: list[str] = []
    document = checkpoint_parse(f"checkpoint {sequence}", sink.get(sequence=sequence) or b"", problems)
    expected_previous = previous.signature if previous else None
    if (
        document is None
        or not document_signature_valid(document, public_key)
        or document.get("previous_signature") != expected_previous
    ):
        raise CheckpointRefused(f"the sink holds a checkpoint {sequence} that does not follow on from this portal's")
    return _row(document, f"{sequence} (adopted)")


__all__ = [
    "CheckpointKeyError",
    "CheckpointRefused",
    "audit_chain_verify_against",
    "audit_chain_verify_incremental",
    "audit_checkpoint_write",
    "sink_checkpoints",
]
