"""Admin for the patch package: shown with its history, never changed here (writes go through the services).

Imported from ``emergencies.admin`` (``from emergencies import admin_patch  # noqa: F401``).
"""

from django.contrib import admin

from emergencies.models import FollowUpDocument, PatchArtifact, PatchPackage, UnitDistribution, UnitEvent
from qms.admin import ReadOnlyHistoryAdmin


@admin.register(PatchPackage)
class PatchPackageAdmin(ReadOnlyHistoryAdmin):
    list_display = ("identifier", "change", "version", "status", "author", "approved_by", "approved_at")
    list_filter = ("status",)
    search_fields = ("identifier", "change__identifier")


@admin.register(PatchArtifact)
class PatchArtifactAdmin(ReadOnlyHistoryAdmin):
    list_display = ("filename", "package", "kind", "size", "sha256", "hash_source", "verification_method")
    list_filter = ("kind", "hash_source", "verification_method")
    search_fields = ("filename", "sha256", "package__identifier")


@admin.register(UnitDistribution)
class UnitDistributionAdmin(ReadOnlyHistoryAdmin):
    list_display = ("serial_number", "package", "install_status", "acknowledged_at", "post_install_verified")
    list_filter = ("install_status", "post_install_verified")
    search_fields = ("serial_number", "package__identifier", "reported_hash")


class _AppendOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UnitEvent)
class UnitEventAdmin(_AppendOnlyAdmin):
    list_display = ("distribution", "kind", "occurred_at", "actor", "reported_hash")
    list_filter = ("kind",)


@admin.register(FollowUpDocument)
class FollowUpDocumentAdmin(_AppendOnlyAdmin):
    list_display = ("change", "key", "completed_by", "completed_at", "reference")
    list_filter = ("key",)
