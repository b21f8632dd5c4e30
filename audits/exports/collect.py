"""What the auditor's export reads: the sources of records about a change (``CHILD_SOURCES``,
``GENERIC_SOURCES``, ``PERIOD_SOURCES``) and the collector that gathers one chunk of changes and everything
recorded about them in a fixed number of queries (``_Collector``; the change trail page reads it too)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q

from audits.models import AuditEvent
from audits.services.trail import HASHED_FIELDS
from emergencies.models import ChangeRecord, Incident
from qms.models import User

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
