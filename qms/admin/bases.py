"""The admin classes every app's admin builds on: history shown and never reverted, and records that are only
shown (they are written through services)."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject
from simple_history.template_utils import HistoricalRecordContextHelper


class _HistoryContextHelper(HistoricalRecordContextHelper):
    """An empty foreign key reads as empty, not as "Deleted user (pk=None)"."""

    def prepare_delta_change_value(self, change, value):
        if isinstance(value, DeletedObject) and value.pk is None:
            return "—"
        return super().prepare_delta_change_value(change, value)


class NoRevertHistoryAdmin(SimpleHistoryAdmin):
    """History is shown, never reverted: a revert would rewrite a record behind its audit trail."""

    def get_historical_record_context_helper(self, request, historical_record):
        return _HistoryContextHelper(self.model, historical_record)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("History cannot be reverted; make a new change instead.")
        return super().history_form_view(request, object_id, version_id, extra_context)


class ReadOnlyHistoryAdmin(NoRevertHistoryAdmin):
    """Records written through services: the admin shows them and their history, and changes nothing."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written through services and middleware only: shown, never changed here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
