"""Follow-up and preventive changes filed before they had a lifecycle of their own (0015) still sit in the
emergency states: they move to the standard lifecycle's equivalent state, each with a field-history row
that says from where and why (history tables are append-only, so a row is added, never rewritten).

- not yet implemented (In Progress, bypass authorised, hotfix in progress, rolled back, or "converted to
  standard process", the only way out the emergency lifecycle gave them) -> Draft: nobody other than the
  author has approved them as a standard change yet, so the approval is still owed;
- deployed, monitoring or in post-incident documentation -> Implemented: the work is done, the verification
  by someone other than the author is still owed;
- Closed is Closed in both lifecycles and is left as it is.

Reversible: going back returns exactly the changes this migration moved, and only while they are still in the
state it left them in, to the state they came from (read from the history row it wrote and the one before it), with a history row
of its own. A change that has moved on since then under the standard lifecycle has no emergency equivalent
and stays where it is.
"""

from django.db import migrations
from django.utils import timezone

FOLLOW_UP_SOURCES = ("follow_up", "preventive")
TO_DRAFT = ("stub", "bypass_authorised", "hotfix_in_progress", "rolled_back", "converted_standard")
TO_IMPLEMENTED = ("deployed", "monitoring", "post_incident")
REASON = "moved to the standard lifecycle of follow-up changes (was {old})"


def _history_row(apps, change, reason, at):
    history = apps.get_model("emergencies", "HistoricalChangeRecord")
    values = {f.attname: getattr(change, f.attname) for f in change._meta.concrete_fields}
    history.objects.create(
        **values, history_date=at, history_type="~", history_user_id=None, history_change_reason=reason
    )


def forwards(apps, schema_editor):
    change_record = apps.get_model("emergencies", "ChangeRecord")
    now = timezone.now()
    moves = {**dict.fromkeys(TO_DRAFT, "draft"), **dict.fromkeys(TO_IMPLEMENTED, "implemented")}
    stale = change_record.objects.filter(source__in=FOLLOW_UP_SOURCES, status__in=list(moves)).order_by("pk")
    for pk, old in list(stale.values_list("pk", "status")):
        # A follow-up is a standard change; one that was "converted" already was, the others say so now.
        # The status field refuses assignment (django-fsm), so the row is updated and its history row written
        # here, with the reason.
        change_record.objects.filter(pk=pk).update(
            status=moves[old], level="standard", hotfix_in_progress=False, monitoring_active=False, updated_at=now
        )
        _history_row(apps, change_record.objects.get(pk=pk), REASON.format(old=old), now)


def backwards(apps, schema_editor):
    change_record = apps.get_model("emergencies", "ChangeRecord")
    history = apps.get_model("emergencies", "HistoricalChangeRecord")
    now = timezone.now()
    prefix, suffix = REASON.split("{old}")
    for change in change_record.objects.filter(source__in=FOLLOW_UP_SOURCES, status__in=("draft", "implemented")):
        rows = list(history.objects.filter(id=change.pk).order_by("-history_date", "-history_id")[:2])
        reason = rows[0].history_change_reason or "" if rows else ""
        if not (reason.startswith(prefix) and reason.endswith(suffix)):
            continue  # not moved by this migration, or moved on since
        old = reason[len(prefix) : len(reason) - len(suffix)]
        before = rows[1] if len(rows) > 1 else change
        change_record.objects.filter(pk=change.pk).update(
            status=old,
            level=before.level,
            hotfix_in_progress=before.hotfix_in_progress,
            monitoring_active=before.monitoring_active,
            updated_at=now,
        )
        reason = f"returned to {old}: the move to the standard lifecycle was reversed"
        _history_row(apps, change_record.objects.get(pk=change.pk), reason, now)


class Migration(migrations.Migration):
    dependencies = [("emergencies", "0015_controls2_standard_lifecycle")]

    operations = [migrations.RunPython(forwards, backwards)]
