"""Weekly hours are read with the booking rules (``availability.Rules.hours``, through the
rules cache), so a change to them gives a new rules token (``clinic.rules_cache``)."""

from django.db import migrations

from clinic.rules_cache import triggers


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0011_rules_token_triggers_before"),
    ]

    operations = [triggers("scheduling_weeklyavailability")]
