"""The lease holder is a worker thread with a heartbeat (``LeaseHolder``), not a database
session: the backend process id and its start time are dropped, and ``lease_holder`` is
made again as the holder's token. Rows in ``sending`` at the time keep no holder, so their
lease alone decides (stop the workers before migrating)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0003_notification_lease_holder"),
    ]

    operations = [
        migrations.CreateModel(
            name="LeaseHolder",
            fields=[
                ("token", models.UUIDField(editable=False, primary_key=True, serialize=False)),
                ("host", models.CharField(max_length=255)),
                (
                    "pid",
                    models.PositiveIntegerField(help_text="The worker process on that host."),
                ),
                ("thread", models.CharField(blank=True, max_length=100)),
                (
                    "started_at",
                    models.DateTimeField(help_text="Its first heartbeat (the database's clock)."),
                ),
                (
                    "heartbeat_at",
                    models.DateTimeField(help_text="Its last heartbeat (the database's clock)."),
                ),
            ],
        ),
        migrations.RemoveField(model_name="notification", name="lease_holder_since"),
        migrations.RemoveField(model_name="notification", name="lease_holder"),
        migrations.AddField(
            model_name="notification",
            name="lease_holder",
            field=models.UUIDField(
                blank=True,
                editable=False,
                help_text="The worker thread sending it (a LeaseHolder token; notifications.holders).",
                null=True,
            ),
        ),
    ]
