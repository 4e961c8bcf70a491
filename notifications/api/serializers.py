from rest_framework import serializers

from notifications.models import Notification


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = [
            "id",
            "subject_type",
            "subject_id",
            "kind",
            "planned_for",
            "recipient",
            "status",
            "reason",
            "attempts",
            "next_attempt_at",
            "last_error",
            "sent_at",
            "message_id",
            "subject_line",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
