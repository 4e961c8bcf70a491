"""A service's price is in the currency of the location where it is booked
(``clinic.Location.currency``, migration clinic 0005), so the service keeps no currency of its own."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0005_location_currency"),
        ("scheduling", "0003_services_require_acts_and_bounded_numbers"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="service",
            name="currency",
        ),
    ]
