"""What a post-mortem commits to: action items and preventive measures, each with its follow-up change."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from emergencies import permissions, signals
from emergencies.identifiers import save_with_unique_identifier
from emergencies.models import (
    ActionItem,
    ChangeRecord,
    PostMortem,
    PreventiveMeasure,
)
from emergencies.services.postincident.change import _milestone
from emergencies.services.postincident.postmortem import _lock_post_mortem
from qms.models import User


@transaction.atomic
def action_item_add(*, post_mortem_id: int, actor: User, action: str, owner: User, due_date: date) -> ActionItem:
    post_mortem = _lock_post_mortem(post_mortem_id)
    if not permissions.can_work_on_change(post_mortem.change, actor):
        raise PermissionDenied("You may not edit this post-mortem.")
    if post_mortem.status == PostMortem.Status.APPROVED:
        raise ValidationError("The post-mortem is approved; add further actions as follow-up changes.")
    if not action.strip():
        raise ValidationError({"action": ["Say what must be done."]})
    if due_date < timezone.now().date():
        raise ValidationError({"due_date": ["The due date is in the past."]})
    number = (post_mortem.action_items.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    item = ActionItem(post_mortem=post_mortem, number=number, action=action.strip(), owner=owner, due_date=due_date)
    item._history_user, item._change_reason = actor, "action item added"
    item.save()
    signals.action_item_saved.send(sender=ActionItem, item=item, actor=actor)
    return item


@transaction.atomic
def action_item_set_status(*, item_id: int, actor: User, status: str) -> ActionItem:
    item = ActionItem.objects.select_for_update(of=("self",)).select_related("post_mortem__change").get(pk=item_id)
    if status not in ActionItem.Status.values:
        raise ValidationError({"status": [f"Unknown status {status!r}."]})
    if actor.pk != item.owner_id and not permissions.can_work_on_change(item.post_mortem.change, actor):
        raise PermissionDenied("Only the owner or the change team can update an action item.")
    item.status = status
    item._history_user, item._change_reason = actor, f"status {status}"
    item.save(update_fields=["status"])
    signals.action_item_saved.send(sender=ActionItem, item=item, actor=actor)
    return item


@transaction.atomic
def preventive_measure_add(
    *, post_mortem_id: int, actor: User, measure: str, category: str, priority: str
) -> PreventiveMeasure:
    post_mortem = _lock_post_mortem(post_mortem_id)
    if not permissions.can_work_on_change(post_mortem.change, actor):
        raise PermissionDenied("You may not edit this post-mortem.")
    item = PreventiveMeasure(post_mortem=post_mortem, measure=measure.strip(), category=category, priority=priority)
    item.full_clean(exclude=["follow_up"])
    item._history_user, item._change_reason = actor, "preventive measure added"
    item.save()
    return item


@transaction.atomic
def preventive_measure_follow_up_create(*, measure_id: int, actor: User) -> ChangeRecord:
    """One click: a follow-up change for a preventive measure, linked both ways (§4.4)."""
    measure = (
        PreventiveMeasure.objects.select_for_update(of=("self",))
        .select_related("post_mortem__change__procedure_version")
        .get(pk=measure_id)
    )
    parent = measure.post_mortem.change
    if not permissions.can_work_on_change(parent, actor):
        raise PermissionDenied("You may not create follow-up changes for this emergency.")
    if measure.follow_up_id:
        return measure.follow_up
    now = timezone.now()
    follow_up = ChangeRecord(
        title=f"{measure.get_category_display()}: {measure.measure}"[:250],
        level=ChangeRecord.Level.STANDARD,
        source=ChangeRecord.Source.PREVENTIVE,
        status=ChangeRecord.Status.DRAFT,
        incident=parent.incident,
        procedure_version=parent.procedure_version,
        author=actor,
        declared_at=now,
        parent=parent,
        problem_statement=f"Preventive measure ({measure.priority} priority) from the post-mortem of "
        f"{parent.identifier}: {measure.measure}",
    )
    follow_up._history_user, follow_up._change_reason = actor, f"follow-up of {parent.identifier}"
    save_with_unique_identifier(follow_up, field_name="identifier", base=f"CHG-{now:%Y%m%d-%H%M}")
    measure.follow_up = follow_up
    measure._history_user, measure._change_reason = actor, f"follow-up {follow_up.identifier} created"
    measure.save(update_fields=["follow_up"])
    _milestone(parent, "follow_up_created", actor, now)
    return follow_up
