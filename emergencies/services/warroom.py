"""The war room of an emergency: responders' log entries (append-only; a correction is a new entry that
references the old one) and the post-mortem timeline prefilled from the war-room timeline, the author
picking the rows."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions, signals
from emergencies.models import ChangeRecord, PostMortem, TimelineEntry, WarRoomEntry
from emergencies.services.gates import lock_change
from qms.models import User
from qms.roles import Role

# Besides whoever works on the change: the people a war room gathers.
RESPONDER_ROLES = (
    Role.COMMANDER,
    Role.SECURITY,
    Role.LEGAL,
    Role.QMS,
    Role.PROGRAM,
    Role.CM,
    Role.SAFETY,
    Role.CERTLEAD,
    Role.QUALITY,
    Role.EXECUTIVE,
)
MAX_ENTRY_LENGTH = 4000


def can_post_war_room(user: User, change: ChangeRecord) -> bool:
    if not user.is_active or not permissions.can_view_changes(user):
        return False
    return permissions.can_work_on_change(change, user) or user.has_role(*RESPONDER_ROLES)


@transaction.atomic
def war_room_entry_post(
    *, change_id: int, text: str, actor: User, kind: str = WarRoomEntry.Kind.NOTE, corrects_id: int | None = None
) -> WarRoomEntry:
    """Log what happened or was decided, with who and when (the server's clock, never the client's)."""
    change = lock_change(change_id)
    if not can_post_war_room(actor, change):
        raise PermissionDenied("You may not write in this war room.")
    if change.status in (ChangeRecord.Status.CLOSED, ChangeRecord.Status.CONVERTED):
        raise ValidationError(f"{change.identifier} is {change.get_status_display().lower()}; its war room is closed.")
    text = (text or "").strip()
    errors: dict[str, list[str]] = {}
    if not text:
        errors["text"] = ["Say what happened or was decided."]
    elif len(text) > MAX_ENTRY_LENGTH:
        errors["text"] = [f"At most {MAX_ENTRY_LENGTH} characters."]
    if kind not in WarRoomEntry.Kind.values:
        errors["kind"] = [f"Unknown kind {kind!r}."]
    corrects = None
    if corrects_id is not None:
        corrects = WarRoomEntry.objects.filter(pk=corrects_id, change=change).first()
        if corrects is None:
            errors["corrects"] = ["The entry to correct is not in this war room."]
    if errors:
        raise ValidationError(errors)
    entry = WarRoomEntry(
        change=change, kind=kind, text=text, posted_by=actor, posted_at=timezone.now(), corrects=corrects
    )
    entry.full_clean(validate_constraints=False)
    entry.save()
    signals.war_room_entry_posted.send(sender=WarRoomEntry, entry=entry, actor=actor)
    return entry


@transaction.atomic
def post_mortem_timeline_prefill(*, post_mortem_id: int, keys: list[str], actor: User) -> list[TimelineEntry]:
    """Add the war-room rows the author picked to the post-mortem's timeline (each once)."""
    from emergencies.selectors import war_room_timeline

    post_mortem = PostMortem.objects.select_for_update().select_related("change").get(pk=post_mortem_id)
    if post_mortem.status != PostMortem.Status.DRAFT:
        raise ValidationError("The post-mortem is in review or approved; reopen it to edit.")
    if not permissions.can_work_on_change(post_mortem.change, actor):
        raise PermissionDenied("You may not edit this post-mortem.")
    rows = {row.key: row for row in war_room_timeline(change=post_mortem.change)}
    unknown = [k for k in keys if k not in rows]
    if unknown or not keys:
        raise ValidationError({"rows": ["Pick rows of this emergency's war-room timeline."]})
    existing = set(post_mortem.timeline.values_list("at", "event"))
    created = []
    for key in dict.fromkeys(keys):
        row = rows[key]
        event = row.summary[:300]
        if (row.at, event) in existing:
            continue
        entry = TimelineEntry(post_mortem=post_mortem, at=row.at, event=event)
        entry._history_user, entry._change_reason = actor, "prefilled from the war room"
        entry.save()
        created.append(entry)
    return created
