"""The auditor's export: every emergency change declared in a date range, with everything recorded about it,
as a zip whose manifest holds the SHA-256 of every file and the head of the audit chain.

Layout of the zip::

    manifest.json                 format, range, who and when, chain head, SHA-256 and size of every file
    changes/<identifier>.json     the change, its incident, the records hanging off it (bypasses, ...),
                                  its obligations and signatures, the field history of all of them and
                                  every audit event about any of them (with the fields the chain hashes)
    users.json                    every user those records name (id, username, name, roles, active)
    reports.json                  the compliance reports whose period overlaps the range
    summaries/<identifier>.pdf    a one-page summary of each change (``audits.evidence.summary``)
    controls/index.json           the evidence per control, as paths and JSON pointers (``audits.evidence.controls``)
    chain/events-<position>.jsonl the audit chain from a signed checkpoint before the first exported event to
                                  the head, and chain/checkpoints/: the checkpoints that anchor it
                                  (``audits.evidence.chain``), so the zip verifies with the public key alone

Reads are set-based: a fixed number of queries per chunk of changes, whatever the number of rows. On
PostgreSQL the reads run in one REPEATABLE READ snapshot, so the files and the chain head agree.
The export is then recorded as an ``audit.exported`` event holding the manifest's SHA-256, which is what
lets ``verify_audit_export --against-chain`` tell a genuine manifest from a rewritten one.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import BinaryIO

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from audits.evidence.chain import chain_evidence_verify
from audits.evidence.writer import INDEX, EvidenceWriter, checkpoint_before_export
from audits.models import AuditChainHead, AuditEvent
from audits.services import HASHED_FIELDS, audit_event_digest, audit_event_record
from emergencies.models import ChangeRecord, Incident
from qms.models import User
from qms.roles import Role

EXPORT_FORMAT = "qms-audit-export/1"
MANIFEST = "manifest.json"
CHUNK_SIZE = 500
EXPORT_ROLES = (Role.QMS, Role.AUDITOR)

# Records that hang off a change through a foreign key, to the change or to a record listed above them
# (votes → CCB sessions). Models that do not exist (yet) are skipped: adding one is one line.
CHILD_SOURCES: tuple[tuple[str, str], ...] = (
    ("bypasses", "emergencies.BypassRequest"),
    ("ccb_sessions", "emergencies.CCBSession"),
    ("ccb_members", "emergencies.CCBMember"),
    ("votes", "emergencies.Vote"),
    ("gate_decisions", "emergencies.GateDecision"),
    ("status_updates", "emergencies.StatusUpdate"),
    ("regulatory_notifications", "emergencies.RegulatoryNotification"),
    ("gate_results", "emergencies.GateResult"),
    ("rollback_trigger_readings", "emergencies.RollbackTriggerReading"),
    ("follow_up_documents", "emergencies.FollowUpDocument"),
    ("post_mortems", "emergencies.PostMortem"),
    ("timeline_entries", "emergencies.TimelineEntry"),
    ("action_items", "emergencies.ActionItem"),
    ("preventive_measures", "emergencies.PreventiveMeasure"),
    ("patch_packages", "emergencies.PatchPackage"),
    ("patch_artifacts", "emergencies.PatchArtifact"),
    ("unit_distributions", "emergencies.UnitDistribution"),
    ("unit_events", "emergencies.UnitEvent"),
    ("war_room_entries", "emergencies.WarRoomEntry"),
)
# Records that point at any record (the change, its incident or a child) by content type and id.
GENERIC_SOURCES: tuple[tuple[str, str], ...] = (
    ("obligations", "audits.Obligation"),
    ("signatures", "qms.Signature"),
)
# Reports of the period (whole, not per change), matched on the first of these date fields they have.
PERIOD_SOURCES: tuple[tuple[str, str], ...] = (("reports", "audits.ComplianceReport"),)
PERIOD_FIELDS = (("period_start", "period_end"), ("period_start", None), ("generated_at", None), ("created_at", None))


def can_export_audit(user) -> bool:
    return bool(
        user and user.is_authenticated and user.is_active and (user.is_superuser or user.has_role(*EXPORT_ROLES))
    )


def _model(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except LookupError:
        return None


def _row(obj: models.Model) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _event_row(event: AuditEvent) -> dict:
    row = {name: getattr(event, name) for name in HASHED_FIELDS}
    row["occurred_at"] = event.occurred_at.astimezone(UTC).isoformat()
    row["hash"] = event.hash
    return row


def _dumps(data) -> bytes:
    return json.dumps(data, cls=DjangoJSONEncoder, sort_keys=True, indent=2, ensure_ascii=False).encode()


def _user_ids(model: type[models.Model], rows: Iterable[dict]) -> set[int]:
    names = [
        f.attname
        for f in model._meta.concrete_fields
        if f.is_relation and f.related_model is not None and issubclass(f.related_model, User)
    ]
    return {row[n] for row in rows for n in names if row.get(n)}


def _history_model(model: type[models.Model]) -> type[models.Model] | None:
    manager = getattr(model, "history", None)
    return getattr(manager, "model", None) if manager is not None else None


def _fk_to(model: type[models.Model], targets: Iterable[type[models.Model]]) -> tuple[str, type] | None:
    for f in model._meta.concrete_fields:
        if (f.many_to_one or f.one_to_one) and f.related_model in targets:
            return f.attname, f.related_model
    return None


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


def _range_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    if date_from > date_to:
        raise ValidationError({"date_to": ["The end of the range is before its start."]})
    start = datetime.combine(date_from, time.min, tzinfo=UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


class _Collector:
    """Gathers one chunk of changes and everything recorded about them, in a fixed number of queries."""

    def __init__(self, changes: list[ChangeRecord]):
        self.changes = changes
        self.per_change: dict[int, dict] = {c.pk: {"history": {}} for c in changes}
        self.user_ids: set[int] = set()
        # (label_lower, pk) of every record whose events, signatures and obligations belong to a change
        self.subjects: dict[tuple[str, str], set[int]] = defaultdict(set)
        self.skipped: list[str] = []
        self.events: dict[int, list[AuditEvent]] = defaultdict(list)

    def _attach(self, change_pk: int, section: str, row: dict) -> None:
        self.per_change[change_pk].setdefault(section, []).append(row)

    def _history(self, model: type[models.Model], owner_of: dict[int, set[int]], section: str) -> None:
        history = _history_model(model)
        if history is None or not owner_of:
            return
        pk_name = model._meta.pk.attname
        rows = history.objects.filter(**{f"{pk_name}__in": list(owner_of)}).order_by("history_date", "history_id")
        for h in rows:
            row = _row(h)
            self.user_ids |= _user_ids(history, [row])
            for change_pk in owner_of[getattr(h, pk_name)]:
                self.per_change[change_pk]["history"].setdefault(section, []).append(row)

    def collect(self) -> None:
        change_owner: dict[int, set[int]] = {c.pk: {c.pk} for c in self.changes}
        incident_owner: dict[int, set[int]] = defaultdict(set)
        for c in self.changes:
            row = _row(c)
            self.per_change[c.pk]["change"] = row
            self.user_ids |= _user_ids(ChangeRecord, [row])
            self.subjects[(ChangeRecord._meta.label_lower, str(c.pk))].add(c.pk)
            if c.incident_id:
                incident_owner[c.incident_id].add(c.pk)
                self.subjects[(Incident._meta.label_lower, str(c.incident_id))].add(c.pk)
        for incident in Incident.objects.filter(pk__in=list(incident_owner)):
            row = _row(incident)
            self.user_ids |= _user_ids(Incident, [row])
            for change_pk in incident_owner[incident.pk]:
                self.per_change[change_pk]["incident"] = row
        self._history(ChangeRecord, change_owner, "change")
        self._history(Incident, dict(incident_owner), "incident")

        owners: dict[type[models.Model], dict[int, set[int]]] = {ChangeRecord: change_owner}
        for section, label in CHILD_SOURCES:
            model = _model(label)
            link = _fk_to(model, set(owners)) if model is not None else None
            if model is None or link is None:
                self.skipped.append(label)
                continue
            attname, parent = link
            parent_owner = owners[parent]
            owner: dict[int, set[int]] = defaultdict(set)
            for obj in model.objects.filter(**{f"{attname}__in": list(parent_owner)}).order_by("pk"):
                row = _row(obj)
                self.user_ids |= _user_ids(model, [row])
                for change_pk in parent_owner[getattr(obj, attname)]:
                    owner[obj.pk].add(change_pk)
                    self._attach(change_pk, section, row)
                    self.subjects[(model._meta.label_lower, str(obj.pk))].add(change_pk)
            owners[model] = owner
            self._history(model, dict(owner), section)

        self._generic_sources()
        self._events()

    def _generic_sources(self) -> None:
        from django.contrib.contenttypes.models import ContentType

        by_type: dict[str, list[int]] = defaultdict(list)
        for label, pk in self.subjects:
            by_type[label].append(int(pk))
        cts = {
            f"{ct.app_label}.{ct.model}": ct
            for ct in ContentType.objects.filter(app_label__in={lbl.split(".")[0] for lbl in by_type})
        }
        for section, label in GENERIC_SOURCES:
            model = _model(label)
            if model is None:
                self.skipped.append(label)
                continue
            condition = Q()
            for type_label, pks in by_type.items():
                if type_label in cts:
                    condition |= Q(subject_type=cts[type_label], subject_id__in=pks)
            if not condition:
                continue
            owner: dict[int, set[int]] = defaultdict(set)
            for obj in model.objects.filter(condition).select_related("subject_type").order_by("pk"):
                row = _row(obj)
                self.user_ids |= _user_ids(model, [row])
                key = (f"{obj.subject_type.app_label}.{obj.subject_type.model}", str(obj.subject_id))
                for change_pk in self.subjects.get(key, ()):
                    owner[obj.pk].add(change_pk)
                    self._attach(change_pk, section, row)
            for pk, change_pks in owner.items():
                self.subjects[(model._meta.label_lower, str(pk))] |= change_pks
            self._history(model, dict(owner), section)

    def _events(self) -> None:
        by_type: dict[str, list[str]] = defaultdict(list)
        for label, pk in self.subjects:
            by_type[label].append(pk)
        condition = Q()
        for label, pks in by_type.items():
            condition |= Q(subject_type=label, subject_id__in=pks)
        if not condition:
            return
        for event in AuditEvent.objects.filter(condition).order_by("position"):
            row = _event_row(event)
            if event.actor_id:
                self.user_ids.add(event.actor_id)
            for change_pk in self.subjects.get((event.subject_type, event.subject_id), ()):
                self._attach(change_pk, "events", row)
                self.events[change_pk].append(event)


def _period_rows(date_from: date, date_to: date, skipped: set[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    start, end = _range_bounds(date_from, date_to)
    for section, label in PERIOD_SOURCES:
        model = _model(label)
        if model is None:
            skipped.add(label)
            continue
        condition = None
        for first, second in PERIOD_FIELDS:
            try:
                model._meta.get_field(first)
                if second:
                    model._meta.get_field(second)
            except FieldDoesNotExist:
                continue
            if second:
                condition = Q(**{f"{first}__lt": end.date() if _is_date(model, first) else end}) & Q(
                    **{f"{second}__gt": start.date() if _is_date(model, second) else start}
                )
            else:
                lo, hi = (start.date(), end.date()) if _is_date(model, first) else (start, end)
                condition = Q(**{f"{first}__gte": lo, f"{first}__lt": hi})
            break
        if condition is None:
            skipped.add(label)
            continue
        out[section] = [_row(obj) for obj in model.objects.filter(condition).order_by("pk")]
    return out


def _is_date(model: type[models.Model], name: str) -> bool:
    f = model._meta.get_field(name)
    return isinstance(f, models.DateField) and not isinstance(f, models.DateTimeField)


def _users(ids: set[int]) -> list[dict]:
    users = User.objects.filter(pk__in=ids).prefetch_related("groups").order_by("pk")
    return [
        {
            "id": u.pk,
            "username": u.username,
            "name": u.get_full_name(),
            "is_active": u.is_active,
            "roles": sorted(r.value for r in u.roles),
        }
        for u in users
    ]


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


# --- verification ------------------------------------------------------------------------------------


@dataclass
class ExportVerification:
    files_checked: int = 0
    events_checked: int = 0
    problems: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)
    manifest_sha256: str = ""
    notes: list[str] = field(default_factory=list)
    checkpoints_checked: int = 0
    last_checkpoint: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _event_from_row(row: dict) -> AuditEvent:
    values = {name: row.get(name) for name in HASHED_FIELDS}
    values["occurred_at"] = datetime.fromisoformat(row["occurred_at"])
    return AuditEvent(**values)


def audit_export_verify(*, source, against_chain: bool = False, public_key=None) -> ExportVerification:
    """Recompute every file's SHA-256 against the manifest and every exported event's chain hash, and walk
    the export's chain segment, finding every exported event in it.

    ``source`` is a path or a binary file. With ``public_key`` (the published Ed25519 key), the segment must
    also agree with every checkpoint the export carries, each signed with that key, in an unbroken series:
    nothing up to the last checkpoint can have been changed, removed or cut off, manifest rewritten or not.
    With ``against_chain``, the manifest must also be the one this portal recorded in an ``audit.exported``
    event, and the exported events must match the live chain.
    """
    result = ExportVerification()
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as exc:
        result.problems.append(f"not a readable zip file ({exc})")
        return result
    with zf:
        names = set(zf.namelist())
        if MANIFEST not in names:
            result.problems.append("manifest.json is missing")
            return result
        manifest_bytes = zf.read(MANIFEST)
        result.manifest_sha256 = hashlib.sha256(manifest_bytes).hexdigest()
        try:
            manifest = json.loads(manifest_bytes)
            files = manifest["files"]
            if manifest.get("format") != EXPORT_FORMAT or not isinstance(files, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            result.problems.append(f"manifest.json is not a {EXPORT_FORMAT} manifest")
            return result
        result.manifest = manifest
        for name in sorted(names - set(files) - {MANIFEST}):
            result.problems.append(f"{name}: not listed in the manifest")
        exported_events: dict[int, str] = {}
        for name, expected in sorted(files.items()):
            if name not in names:
                result.problems.append(f"{name}: listed in the manifest but missing")
                continue
            digest = hashlib.sha256()
            with zf.open(name) as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 16), b""):
                    digest.update(block)
            result.files_checked += 1
            if digest.hexdigest() != expected.get("sha256"):
                result.problems.append(f"{name}: SHA-256 does not match the manifest")
                continue
            if name.startswith("changes/"):
                _verify_events(zf.read(name), name, result, exported_events)
        if not result.problems:
            anchored = chain_evidence_verify(zf=zf, manifest=manifest, exported=exported_events, public_key=public_key)
            result.problems += anchored.problems
            result.notes += anchored.notes
            result.checkpoints_checked, result.last_checkpoint = anchored.checkpoints_checked, anchored.last_checkpoint
    if against_chain and not result.problems:
        _verify_against_chain(result, exported_events)
    return result


def _verify_events(data: bytes, name: str, result: ExportVerification, exported: dict[int, str]) -> None:
    try:
        events = json.loads(data).get("events", [])
        for row in events:
            result.events_checked += 1
            if audit_event_digest(_event_from_row(row)) != row.get("hash"):
                result.problems.append(f"{name}: event #{row.get('position')} does not match its chain hash")
            else:
                exported[int(row["position"])] = row["hash"]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        result.problems.append(f"{name}: unreadable ({exc.__class__.__name__})")


def _verify_against_chain(result: ExportVerification, exported: dict[int, str]) -> None:
    head = result.manifest.get("chain_head") or {}
    position = head.get("position")
    if position:
        live = AuditEvent.objects.filter(position=position).values_list("hash", flat=True).first()
        if live != head.get("hash"):
            result.problems.append(f"the chain head #{position} named by the manifest is not in the audit chain")
    recorded = AuditEvent.objects.filter(
        action="audit.exported", after__manifest_sha256=result.manifest_sha256
    ).exists()
    if not recorded:
        result.problems.append("no audit.exported event records this manifest: it was not produced by this portal")
    positions = sorted(exported)
    for i in range(0, len(positions), 2000):
        batch = positions[i : i + 2000]
        live = dict(AuditEvent.objects.filter(position__in=batch).values_list("position", "hash"))
        for pos in batch:
            if live.get(pos) != exported[pos]:
                result.problems.append(f"event #{pos} differs from the live audit chain")
