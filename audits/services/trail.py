"""The audit trail: every event appended to one hash chain, each event hashing the one before it, and the
walk that checks the chain end to end."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC

from django.db import connection, models, transaction
from django.utils import timezone

from audits.context import current_ip
from audits.models import AuditChainHead, AuditEvent
from qms.api.context import current_api_token
from qms.batch import batch_rows
from qms.bulk import rows_insert
from qms.models import User

logger = logging.getLogger(__name__)
GENESIS = "0" * 64
HASHED_FIELDS = (
    "position",
    "occurred_at",
    "actor_id",
    "actor_name",
    "actor_roles",
    "action",
    "subject_type",
    "subject_id",
    "subject_label",
    "reason",
    "before",
    "after",
    "ip_address",
    "prev_hash",
)


def _jsonable(value) -> dict:
    """What a JSONField gives back after a round trip, so the stored value hashes as it was hashed."""
    return json.loads(json.dumps(value or {}, default=str, sort_keys=True))


def audit_event_digest(event: AuditEvent) -> str:
    return audit_values_digest({name: getattr(event, name) for name in HASHED_FIELDS})


def audit_values_digest(values: dict) -> str:
    """The hash of an event given as a dict with (at least) ``HASHED_FIELDS``, as ``audit_event_digest``."""
    payload = {name: values[name] for name in HASHED_FIELDS}
    payload["occurred_at"] = payload["occurred_at"].astimezone(UTC).isoformat()
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()


def _head_for_update() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:  # only after a database flush; the migration creates it
        AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


@transaction.atomic(savepoint=False)
def audit_event_record(
    *,
    action: str,
    actor: User | None = None,
    subject: models.Model | None = None,
    subject_label: str = "",
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
    ip_address: str | None = None,
) -> AuditEvent:
    """Append one event to the chain, in the caller's transaction (it commits or rolls back with it).

    An event written by a request made with an API token names the token (``after["api_token"]``)."""
    via_token = current_api_token.get()
    if via_token is not None:
        after = {**(after or {}), "api_token": via_token}
    actor = actor if actor is not None and actor.is_authenticated else None
    event = AuditEvent(
        occurred_at=timezone.now(),
        actor=actor,
        actor_name=actor.display_name if actor else "system",
        actor_roles=", ".join(sorted(r.label for r in actor.roles)) if actor else "",
        action=action,
        subject_type=subject._meta.label_lower if subject is not None else "",
        subject_id=str(subject.pk) if subject is not None else "",
        subject_label=subject_label or (str(subject) if subject is not None else ""),
        reason=reason,
        before=_jsonable(before),
        after=_jsonable(after),
        ip_address=ip_address if ip_address is not None else current_ip.get(""),
    )
    # Inside ``qms.batch.writes_batched()`` (a filing) the events are chained and written when the block ends:
    # one head update and one insert for all of them; the event has its position and hash from then on.
    pending = batch_rows("audits.events", _events_chain)
    if pending is None:
        _events_chain([event])
    else:
        pending.append(event)
    return event


def _events_chain(events: list[AuditEvent]) -> None:
    """Chain ``events`` onto the head, in their order, and write them (one statement for the head, one for them).

    The head this connection last wrote, if any: advancing it with a conditional UPDATE takes the row lock and
    checks, in one statement, that nobody appended since (another transaction, or a savepoint of ours rolled
    back). On a miss the head is read under lock as before."""
    if not events:
        return
    known = getattr(connection, "_qms_audit_head", None)
    head = AuditChainHead(pk=1, position=known[0], hash=known[1]) if known else _head_for_update()
    _link(events, head)
    if known and not _head_advance(head, events[-1]):
        head = _head_for_update()  # someone appended since: chain onto the real head
        _link(events, head)
        _head_advance(head, events[-1])
    elif not known:
        _head_advance(head, events[-1])
    if len(events) == 1:
        events[0].save()
    else:
        AuditEvent.objects.bulk_create(events)
    connection._qms_audit_head = (events[-1].position, events[-1].hash)


def _link(events: list[AuditEvent], head: AuditChainHead) -> None:
    position, prev_hash = head.position, head.hash
    for event in events:
        position += 1
        event.position, event.prev_hash = position, prev_hash
        event.hash = prev_hash = audit_event_digest(event)


def _head_advance(head: AuditChainHead, event: AuditEvent) -> bool:
    """Move the head from ``head`` to ``event``, if it is still at ``head`` (always, under the row lock)."""
    return bool(
        AuditChainHead.objects.filter(pk=1, position=head.position, hash=head.hash).update(
            position=event.position, hash=event.hash
        )
    )


def audit_rows_append(rows: list[dict]) -> int:
    """Chain many events onto the trail, in the order given, with one head lock and one COPY (in the caller's
    transaction). Each row gives every field of ``HASHED_FIELDS`` but ``position`` and ``prev_hash``, as plain
    JSON-able values (so what is stored hashes as it was hashed); it is completed here."""
    if not rows:
        return 0
    head = _head_for_update()
    position, prev_hash = head.position, head.hash
    for row in rows:
        position += 1
        row["position"], row["prev_hash"] = position, prev_hash
        row["hash"] = prev_hash = audit_values_digest(row)
    rows_insert(AuditEvent, rows)
    head.position, head.hash = position, prev_hash
    head.save(update_fields=["position", "hash"])
    return len(rows)


def audit_events_append(events: list[dict]) -> int:
    """Append many system events (a job's, not a person's) at once; each dict gives action, subject_type,
    subject_id, subject_label, reason, before and after."""
    now = timezone.now()
    return audit_rows_append(
        [
            {
                "occurred_at": now,
                "actor_id": None,
                "actor_name": "system",
                "actor_roles": "",
                "action": spec["action"],
                "subject_type": spec.get("subject_type", ""),
                "subject_id": str(spec.get("subject_id", "")),
                "subject_label": spec.get("subject_label", "")[:100],
                "reason": spec.get("reason", ""),
                "before": spec.get("before") or {},
                "after": spec.get("after") or {},
                "ip_address": "",
            }
            for spec in events
        ]
    )


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head_position: int
    broken_at: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def audit_chain_verify(*, chunk_size: int = 2000) -> ChainReport:
    """Walk the chain from the first event; report the first position where it breaks."""
    expected_prev, expected_position, checked = GENESIS, 1, 0
    for event in AuditEvent.objects.order_by("position").iterator(chunk_size=chunk_size):
        if event.position != expected_position:
            return ChainReport(
                checked,
                expected_position - 1,
                expected_position,
                f"event #{expected_position} is missing (next present is #{event.position})",
            )
        if event.prev_hash != expected_prev:
            return ChainReport(
                checked, event.position, event.position, f"event #{event.position} does not link to the event before it"
            )
        if audit_event_digest(event) != event.hash:
            return ChainReport(
                checked, event.position, event.position, f"event #{event.position} was altered after it was written"
            )
        expected_prev, expected_position, checked = event.hash, expected_position + 1, checked + 1
    head = AuditChainHead.objects.filter(pk=1).first()
    if head is not None and (head.position, head.hash) != (expected_position - 1, expected_prev):
        return ChainReport(
            checked,
            expected_position - 1,
            expected_position,
            f"the chain ends at #{expected_position - 1} but its head names #{head.position}",
        )
    return ChainReport(checked, expected_position - 1, None, "")
