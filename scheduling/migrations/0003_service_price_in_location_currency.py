"""A service's price is in the currency of the location where it is booked
(``clinic.Location.currency``, migration clinic 0004), so the service keeps no currency of its own."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0004_location_currency"),
        ("scheduling", "0002_no_double_booking"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="service",
            name="currency",
        ),
    ]
