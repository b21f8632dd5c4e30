"""A batch of the bulk seed: its rows per model and its audit events, built in memory, then written (the
records and their history on one connection, the audit events and the clocks' history on another). What
the receivers write for every sub-domain (audit events, clocks, signatures, history rows) is here; each
sub-domain's module writes its own records through it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import Model

from audits.management.bulk import bypasses, changes, sessions
from audits.management.bulk.core import Sig, Subject, historical, history, unique_identifiers
from audits.management.bulk.emergency import write_emergency_bypasses
from audits.management.bulk.postincident import write_post_incident
from audits.management.bulk.standalone import write_standalone_bypasses
from audits.models import Obligation
from audits.services import audit_rows_append
from emergencies.models import ActionItem, BypassRequest, CCBSession, GateResult, Incident, PostMortem, Vote
from qms.bulk import rows_insert
from qms.models import Notification, Signature, User
from qms.services import content_hash

if TYPE_CHECKING:
    from audits.management.bulk.plans import Plan
    from audits.management.bulk.world import SeedReport, World

REANCHOR_NOTE = "due re-anchored at resolution"  # audits.services.obligations_reanchor


@dataclass(slots=True)
class Clock:
    """An obligation being written: its row, and its history as it was opened, re-anchored and met."""

    row: dict
    opened_at: datetime
    opened_by: User | None
    reanchored: tuple[datetime, User | None, datetime] | None = None  # at, by, the due before
    met: bool = False
    met_by: User | None = None


class Batch:
    """One batch of changes and everything that hangs off them.

    ``build`` collects the rows per model and the audit events in memory; every row has its primary key
    from the start (``Ids``), so events, clocks and signatures name their records as they are made.
    ``flush_rows`` and ``flush_events`` write them, each in one transaction.
    """

    def __init__(self, world: World, plans: list[Plan], standalone: list):
        self.world, self.plans, self.standalone = world, plans, standalone
        self.ids = world.ids
        self.events: list[tuple[datetime, int, dict]] = []
        self.rows: dict[type[Model], list[dict]] = defaultdict(list)
        self.clocks: list[Clock] = []
        self.issued: set[str] = set()  # identifiers given to this batch's records

    def unique(self, model: type[Model], field_name: str, bases: list[str]) -> list[str]:
        return unique_identifiers(model, field_name, bases, in_flight=self.world.in_flight, issued=self.issued)

    # --- what the receivers write -----------------------------------------------------------------------

    def event(
        self,
        at: datetime,
        *,
        action: str,
        actor: User | None,
        subject: Subject,
        reason: str = "",
        before: dict | None = None,
        after: dict | None = None,
    ) -> dict:
        """An audit event (audits.services.audit_event_record), chained in time order when the batch is written."""
        values = {
            "occurred_at": at,
            "actor_id": actor.pk if actor else None,
            "actor_name": (self.world.names.get(actor.pk) or actor.display_name) if actor else "system",
            "actor_roles": self.world.role_labels.get(actor.pk, "") if actor else "",
            "action": action,
            "subject_type": subject.audit_type,
            "subject_id": str(subject.pk),
            "subject_label": subject.label,
            "reason": reason,
            "before": before or {},
            "after": after or {},
            "ip_address": "",
        }
        self.events.append((at, len(self.events), values))
        return values

    def open_clocks(self, subject: Subject, specs: list[dict], *, at: datetime, actor: User | None) -> list[Clock]:
        """Start clocks on a subject (audits.services.obligations_open): the rows and one audit event."""
        clocks = []
        for spec in specs:
            row = {
                "id": self.ids.next(Obligation),
                "subject_type_id": subject.ct_id,
                "subject_id": subject.pk,
                "subject_label": subject.label,
                "subject_url": subject.url,
                "kind": spec["kind"],
                "key": spec.get("key", ""),
                "label": spec["label"],
                "owner_id": spec["owner"].pk if spec.get("owner") else None,
                "owner_role": spec.get("owner_role", ""),
                "started_at": spec.get("started_at", at),
                "due_at": spec["due_at"],
                "satisfied_at": None,
                "satisfied_by_id": None,
                "satisfaction_note": "",
                "escalation_level": 0,
                "last_escalated_at": None,
            }
            clocks.append(Clock(row, at, actor))
        self.clocks += clocks
        self.event(
            at,
            action="obligation.opened",
            actor=actor,
            subject=subject,
            reason="; ".join(f"{c.row['label']} due {c.row['due_at']:%Y-%m-%d %H:%M} UTC" for c in clocks),
            after={
                "clocks": [{"kind": c.row["kind"], "key": c.row["key"], "due_at": str(c.row["due_at"])} for c in clocks]
            },
        )
        return clocks

    def satisfy(self, clock: Clock, *, at: datetime, actor: User | None, note: str, subject: Subject) -> None:
        """audits.services.obligations_satisfy for one open clock."""
        if clock.met:
            return
        row = clock.row
        row["satisfied_at"], row["satisfied_by_id"], row["satisfaction_note"] = at, actor.pk if actor else None, note
        clock.met, clock.met_by = True, actor
        self.event(
            at,
            action="obligation.satisfied",
            actor=actor,
            subject=subject,
            reason=f"{row['label']}: {note}",
            after={"obligation": row["id"], "kind": row["kind"], "on_time": at <= row["due_at"]},
        )

    def reanchor(self, clock: Clock, *, at: datetime, actor: User | None, due: datetime, subject: Subject) -> None:
        """audits.services.obligations_reanchor for one open clock (a later due restarts escalation: still 0)."""
        row = clock.row
        if row["due_at"] == due:
            return
        clock.reanchored = (at, actor, row["due_at"])
        self.event(
            at,
            action="obligation.reanchored",
            actor=actor,
            subject=subject,
            reason=f"{row['label']} now due {due:%Y-%m-%d %H:%M} UTC",
            before={"due_at": str(row["due_at"])},
            after={"due_at": str(due), "kind": row["kind"]},
        )
        row["due_at"] = due

    def sign(self, subject: Subject, sig: Sig, content: dict, *, confirms: int | None = None) -> int:
        """qms.services.signature_record: the immutable signature and its audit event."""
        pk = self.ids.next(Signature)
        approved_at = sig.approved_at or sig.at
        digest = content_hash(content)
        self.rows[Signature].append(
            {
                "id": pk,
                "subject_type_id": subject.ct_id,
                "subject_id": subject.pk,
                "subject_label": subject.label,
                "signer_id": sig.signer.pk,
                "signer_name": sig.signer.display_name,
                "role": sig.role.value,
                "meaning": sig.meaning,
                "method": sig.method,
                "recorded_by_id": sig.recorded_by.pk if sig.recorded_by else None,
                "approved_at": approved_at,
                "signed_at": sig.at,
                "comment": sig.comment.strip(),
                "content_hash": digest,
                "confirms_id": confirms,
            }
        )
        self.event(
            sig.at,
            action=f"signature.{sig.meaning}",
            actor=sig.recorded_by or sig.signer,
            subject=subject,
            reason=sig.comment.strip(),
            after={
                "signer": sig.signer.display_name,
                "role": sig.role.value,
                "meaning": sig.meaning,
                "method": sig.method,
                "content_hash": digest,
                "approved_at": str(approved_at),
                "signature": pk,
            },
        )
        return pk

    def history(self, model: type[Model], snapshot: dict, *, at: datetime, kind: str, user, reason) -> None:
        self.rows[historical(model)].append(
            history(snapshot, pk=snapshot["id"], at=at, kind=kind, user=user, reason=reason)
        )

    # --- writing --------------------------------------------------------------------------------------------

    def build(self, report: SeedReport) -> None:
        """Every row and event of the batch, in memory (the generating thread)."""
        self._identifiers()
        changes.write_incidents(self)
        changes.write_changes(self)
        changes.write_change_clocks(self)
        changes.write_notifications(self)
        write_emergency_bypasses(self)
        write_standalone_bypasses(self)
        write_post_incident(self)
        sessions.write_ccb(self)
        self._clock_rows()
        for plan in self.plans:
            report.by_state[plan.state] = report.by_state.get(plan.state, 0) + 1
        self.count(report)

    def count(self, report: SeedReport) -> None:
        counts = {model: len(rows) for model, rows in self.rows.items()}
        report.changes += len(self.plans)
        report.incidents += counts.get(Incident, 0)
        report.bypasses += counts.get(BypassRequest, 0)
        report.signatures += counts.get(Signature, 0)
        report.ccb_sessions += counts.get(CCBSession, 0)
        report.votes += counts.get(Vote, 0)
        report.post_mortems += counts.get(PostMortem, 0)
        report.action_items += counts.get(ActionItem, 0)
        report.gate_results += counts.get(GateResult, 0)
        report.obligations += counts.get(Obligation, 0)
        report.notifications += counts.get(Notification, 0)
        report.audit_events += len(self.events)
        report.history_rows += sum(n for model, n in counts.items() if model.__name__.startswith("Historical"))

    # Written beside the audit events, to share the work between the two writers: the clocks' history, the
    # largest table after the events; history rows name nothing but their user, so they may commit apart.
    BESIDE_EVENTS = (Obligation,)

    def flush_rows(self) -> None:
        """Write the batch's records and their history in one transaction, freeing each table's rows once written."""
        beside = {historical(model) for model in self.BESIDE_EVENTS}
        with transaction.atomic():
            for model in [m for m in self.rows if m not in beside]:
                rows_insert(model, self.rows.pop(model), ids=False)

    def flush_events(self) -> None:
        """Chain the batch's audit events onto the trail in one transaction (with the history that goes beside
        them). The events name only users outside the batch (their actors), so they may commit before or after
        the records they are about."""
        beside = [historical(model) for model in self.BESIDE_EVENTS]
        with transaction.atomic():
            for model in beside:
                rows_insert(model, self.rows.pop(model, []), ids=False)
            self._audit_trail()
        self.events.clear()

    def _identifiers(self) -> None:
        """Every record's identifier and primary key, before any row is made."""
        changes.assign_identifiers(self)
        bypasses.assign_identifiers(self)
        sessions.assign_identifiers(self)

    def milestone(self, plan: Plan, name: str, *, at: datetime, actor: User) -> None:
        """emergencies.signals.change_record_milestone: its audit event (the clocks it meets are in when_met)."""
        self.event(at, action=f"change.{name}", actor=actor, subject=plan.subject, reason=name.replace("_", " "))

    def _clock_rows(self) -> None:
        """Each clock as it ends up, and its history: opened, re-anchored, met."""
        rows = self.rows[Obligation]
        for clock in self.clocks:
            row = clock.row
            rows.append(row)
            opened = {**row, "satisfied_at": None, "satisfied_by_id": None, "satisfaction_note": ""}
            if clock.reanchored:
                at, by, due_before = clock.reanchored
                self.history(
                    Obligation,
                    {**opened, "due_at": due_before},
                    at=clock.opened_at,
                    kind="+",
                    user=clock.opened_by,
                    reason="clock started",
                )
                self.history(Obligation, opened, at=at, kind="~", user=by, reason=REANCHOR_NOTE)
            else:
                self.history(
                    Obligation, opened, at=clock.opened_at, kind="+", user=clock.opened_by, reason="clock started"
                )
            if clock.met:
                self.history(
                    Obligation,
                    row,
                    at=row["satisfied_at"],
                    kind="~",
                    user=clock.met_by,
                    reason=row["satisfaction_note"],
                )

    def _audit_trail(self) -> None:
        """Append this batch's events to the chain, in time order, under the chain head's lock."""
        audit_rows_append([values for _, _, values in sorted(self.events, key=lambda e: (e[0], e[1]))])
