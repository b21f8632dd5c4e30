"""Writing the auditor's export (layout: ``audits.exports``): the changes of the range chunk by chunk, the
period's reports, the users, the evidence and the manifest, in one snapshot; then the ``audit.exported`` event."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import BinaryIO

from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from audits.evidence.writer import INDEX, EvidenceWriter, checkpoint_before_export
from audits.exports.collect import CHILD_SOURCES, _Collector, _period_rows, _range_bounds, _users
from audits.models import AuditChainHead, AuditEvent
from audits.services.trail import audit_event_record
from emergencies.models import ChangeRecord
from qms.models import User
from qms.roles import Role

EXPORT_FORMAT = "qms-audit-export/1"
MANIFEST = "manifest.json"
CHUNK_SIZE = 500
EXPORT_ROLES = (Role.QMS, Role.AUDITOR)


def can_export_audit(user) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and (user.is_superuser or user.has_role(*EXPORT_ROLES))
    )


def _dumps(data) -> bytes:
    return json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True, indent=2, ensure_ascii=False).encode()


@dataclass
class ExportSummary:
    date_from: date
    date_to: date
    changes: int
    files: dict[str, dict]
    chain_head: dict
    manifest_sha256: str
    event: AuditEvent | None = None
    skipped_sources: list[str] = field(default_factory=list)


def _write_snapshot(*, date_from: date, date_to: date, out: BinaryIO, actor_name: str, now: datetime) -> ExportSummary:
    start, end = _range_bounds(date_from, date_to)
    files: dict[str, dict] = {}
    user_ids: set[int] = set()
    skipped: set[str] = set()
    count = 0

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:

        def put(name: str, data: bytes) -> None:
            info = zipfile.ZipInfo(name, date_time=now.astimezone(UTC).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}

        head = AuditChainHead.objects.filter(pk=1).first()
        chain_head = {"position": head.position if head else 0, "hash": head.hash if head else "0" * 64}
        changes_qs = (
            ChangeRecord.objects.filter(declared_at__gte=start, declared_at__lt=end)
            .select_related("procedure_version__procedure")
            .order_by("declared_at", "pk")
        )
        ids = list(changes_qs.values_list("pk", flat=True))
        evidence = EvidenceWriter(
            put=put,
            files=files,
            export={"from": date_from.isoformat(), "to": date_to.isoformat(), "generated_at": now.isoformat()},
            section_of={label.lower(): section for section, label in CHILD_SOURCES},
        )
        for i in range(0, len(ids), CHUNK_SIZE):
            chunk = list(changes_qs.filter(pk__in=ids[i : i + CHUNK_SIZE]))
            collector = _Collector(chunk)
            collector.collect()
            user_ids |= collector.user_ids
            skipped.update(collector.skipped)
            names = {u.pk: u.display_name for u in User.objects.filter(pk__in=collector.user_ids)}
            for change in chunk:
                data = collector.per_change[change.pk]
                data["procedure"] = {
                    "code": change.procedure_version.procedure.code,
                    "version": change.procedure_version.version,
                }
                name = f"changes/{change.identifier}.json"
                put(name, _dumps(data))
                count += 1
                evidence.change(identifier=change.identifier, name=name, data=data, names=names)
        for section, rows in _period_rows(date_from, date_to, skipped).items():
            put(f"{section}.json", _dumps(rows))
        put("users.json", _dumps(_users(user_ids)))
        chain = evidence.finish(chain_head=chain_head)

        manifest = {
            "format": EXPORT_FORMAT,
            "generated_at": now.astimezone(UTC).isoformat(),
            "generated_by": actor_name,
            "range": {"from": date_from.isoformat(), "to": date_to.isoformat(), "timezone": "UTC"},
            "changes": count,
            "chain_head": chain_head,
            "chain": chain,
            "controls": INDEX,
            "not_included": sorted(set(skipped)),
            "files": files,
        }
        manifest_bytes = _dumps(manifest)
        zf.writestr(zipfile.ZipInfo(MANIFEST, date_time=now.astimezone(UTC).timetuple()[:6]), manifest_bytes)
    return ExportSummary(
        date_from=date_from,
        date_to=date_to,
        changes=count,
        files=files,
        chain_head=chain_head,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        skipped_sources=sorted(set(skipped)),
    )


def audit_export_write(
    *, date_from: date, date_to: date, actor: User | None, out: BinaryIO, now: datetime | None = None
) -> ExportSummary:
    """Write the export of the changes declared from ``date_from`` to ``date_to`` (UTC days, inclusive).

    ``actor`` is the signed-in person asking (``None`` for the command line, recorded as the system).
    A refused or failed export writes no event; a written one is recorded as ``audit.exported``.
    """
    if actor is not None and not can_export_audit(actor):
        raise PermissionDenied("Audit exports are for QMS coordinators and auditors.")
    _range_bounds(date_from, date_to)
    now = now or timezone.now()
    actor_name = actor.username if actor is not None else "system"
    checkpoint_before_export()
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            summary = _write_snapshot(date_from=date_from, date_to=date_to, out=out, actor_name=actor_name, now=now)
    else:
        summary = _write_snapshot(date_from=date_from, date_to=date_to, out=out, actor_name=actor_name, now=now)
    with transaction.atomic():
        summary.event = audit_event_record(
            action="audit.exported",
            actor=actor,
            reason=f"Auditor export of changes declared {date_from:%Y-%m-%d} to {date_to:%Y-%m-%d}",
            after={
                "from": date_from.isoformat(),
                "to": date_to.isoformat(),
                "changes": summary.changes,
                "files": len(summary.files),
                "manifest_sha256": summary.manifest_sha256,
                "chain_head": summary.chain_head,
            },
        )
    return summary
