"""Time off and extra hours are read with the booking rules (``availability.Rules.exceptions``,
through the rules cache), so a change to them gives a new rules token (``clinic.rules_cache``)."""

from django.db import migrations

from clinic.rules_cache import triggers


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0012_rules_token_weekly_hours"),
    ]

    operations = [triggers("scheduling_availabilityexception")]
