from django.contrib import admin

from .models import RosterImport


@admin.register(RosterImport)
class RosterImportAdmin(admin.ModelAdmin):
    """Imports are records: read them here, never edit them. (The members an import touched
    are listed on the member, through the scoped member pages, not here.)"""

    list_display = (
        "filename",
        "kind",
        "status",
        "user",
        "created_at",
        "rows_read",
        "rows_created",
        "rows_updated",
        "rows_unchanged",
        "rows_bad",
    )
    list_filter = ("kind", "status", "dry_run")
    search_fields = ("filename", "user__username")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    exclude = ("errors_data", "bad_rows_data")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
