"""The notification ledger: one row per e-mail the clinic means to send, and what became of it.

The ledger knows nothing of appointments or care plans. A row names its subject by type and id,
its kind (a key in ``notifications.registry``) and the time it is planned for; the database makes a
second row for the same subject, kind and planned time impossible, which is what keeps a reminder
from being planned (and sent) twice.
"""

from django.db import models
from django.db.models import Q


class Notification(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        SKIPPED = "skipped", "Skipped"

    subject_type = models.CharField(max_length=80, help_text="app_label.model of the subject.")
    subject_id = models.BigIntegerField()
    kind = models.CharField(max_length=60)
    planned_for = models.DateTimeField(help_text="When it is meant to go out (UTC).")
    recipient = models.EmailField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(
        max_length=200, blank=True, help_text="Why it was skipped or cancelled."
    )
    next_attempt_at = models.DateTimeField(
        help_text="Earliest time the next attempt may start: the planned time, then back-off."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_holder = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The worker thread sending it (a LeaseHolder token; notifications.holders).",
    )
    message_id = models.CharField(
        max_length=255,
        unique=True,
        editable=False,
        help_text="Fixed before the first attempt; a re-send after a crash reuses it.",
    )
    context = models.JSONField(
        default=dict, blank=True, help_text="What the planning app wants the renderer to know."
    )
    told = models.JSONField(
        default=dict, blank=True, help_text="The facts the sent e-mail told the recipient."
    )
    subject_line = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-planned_for", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subject_type", "subject_id", "kind", "planned_for"],
                name="notification_once_per_subject_kind_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="sending")
                | (Q(lease_expires_at__isnull=False) & Q(lease_token__isnull=False)),
                name="notification_sending_has_lease",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="notification_sent_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_due"),
            models.Index(fields=["subject_type", "subject_id"], name="notification_subject"),
        ]

    def __str__(self) -> str:
        subject = f"{self.subject_type}#{self.subject_id}"
        return f"{self.kind} for {subject} at {self.planned_for:%Y-%m-%d %H:%M}"


class LeaseHolder(models.Model):
    """A thread of a worker process that claims ledger rows, alive while its heartbeat is recent.

    Not a foreign key of ``Notification.lease_holder``: a holder missing from this table counts
    as gone, as one whose heartbeat is old does, so old holders can be deleted at any time."""

    token = models.UUIDField(primary_key=True, editable=False)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField(help_text="The worker process on that host.")
    thread = models.CharField(max_length=100, blank=True)
    started_at = models.DateTimeField(help_text="Its first heartbeat (the database's clock).")
    heartbeat_at = models.DateTimeField(help_text="Its last heartbeat (the database's clock).")

    def __str__(self) -> str:
        return f"{self.host} pid {self.pid} {self.thread}"
