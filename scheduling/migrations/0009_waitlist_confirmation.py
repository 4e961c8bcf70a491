"""Double opt-in for the widget's waitlist entries: ``confirmed_at`` (NULL until the person
follows the e-mailed link). Entries that existed before are taken as confirmed."""

from django.db import migrations, models
from django.db.models import F


def confirm_existing(apps, schema_editor) -> None:
    entry = apps.get_model("scheduling", "WaitlistEntry")
    entry.objects.filter(confirmed_at__isnull=True).update(confirmed_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0008_waitlist")]

    operations = [
        migrations.AddField(
            model_name="waitlistentry",
            name="confirmed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the person confirmed the place from the e-mailed link (widget"
                " entries); set at creation for the front desk's. Unconfirmed entries are never"
                " offered.",
                null=True,
            ),
        ),
        migrations.RunPython(confirm_existing, migrations.RunPython.noop),
    ]
