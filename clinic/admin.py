from django.contrib import admin

from clinic.models import ClinicSettings, Location, Room


class RoomInline(admin.TabularInline):
    model = Room
    extra = 0


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "city",
        "timezone",
        "jurisdiction",
        "currency",
        "is_virtual",
        "is_active",
    ]
    list_filter = ["jurisdiction", "is_virtual", "is_active"]
    search_fields = ["name", "city"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [RoomInline]


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ["name", "location", "kind", "capacity", "is_active"]
    list_filter = ["location", "kind", "is_active"]
    list_select_related = ["location"]


@admin.register(ClinicSettings)
class ClinicSettingsAdmin(admin.ModelAdmin):
    """A single row: adding a second one or deleting it makes no sense."""

    def has_add_permission(self, request) -> bool:
        return not ClinicSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
