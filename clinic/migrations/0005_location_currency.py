"""Each location has its own currency (a US location charges in USD): existing US locations
get USD, every other location keeps the organisation's CAD."""

from django.db import migrations, models

import clinic.validators


def us_locations_in_usd(apps, schema_editor) -> None:
    Location = apps.get_model("clinic", "Location")
    Location.objects.filter(country="US").update(currency="USD")


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0004_plausible_settings_and_contact_codes"),
    ]

    operations = [
        migrations.AddField(
            model_name="location",
            name="currency",
            field=models.CharField(
                default="CAD",
                help_text="ISO 4217 code; service prices at this location are in it.",
                max_length=3,
                validators=[clinic.validators.validate_currency],
            ),
        ),
        migrations.AddConstraint(
            model_name="location",
            constraint=models.CheckConstraint(
                condition=models.Q(("currency__regex", "^[A-Z]{3}$")),
                name="location_currency_iso_code",
            ),
        ),
        migrations.RunPython(us_locations_in_usd, migrations.RunPython.noop),
    ]
