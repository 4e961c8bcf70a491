"""The ledger in the admin: read-only for staff, with a "retry now" action for managers."""

from django.contrib import admin, messages

from clinic import roles
from clinic.errors import DomainError
from notifications import services
from notifications.models import Notification
from notifications.selectors import visible_notifications


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "subject_type",
        "subject_id",
        "planned_for",
        "status",
        "reason",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "kind", "subject_type"]
    search_fields = ["recipient", "message_id", "subject_line"]
    date_hierarchy = "planned_for"
    actions = ["retry_now"]
    readonly_fields = [field.name for field in Notification._meta.fields]

    def get_queryset(self, request):
        return visible_notifications(request.user)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_permission(self, request) -> bool:
        return roles.is_manager(request.user)

    @admin.action(description="Retry now (failed notifications)", permissions=["retry"])
    def retry_now(self, request, queryset) -> None:
        retried = 0
        for notification in queryset:
            try:
                services.retry_now(notification)
            except DomainError as exc:
                self.message_user(request, f"#{notification.pk}: {exc}", messages.WARNING)
            else:
                retried += 1
        if retried:
            self.message_user(request, f"{retried} notification(s) queued again.", messages.SUCCESS)
