"""A change to the tables the booking rules are read from (services and their acts, offerings,
booking-policy overrides, closures) gives a new rules token (``clinic.rules_cache``), so cached rules are
reloaded on the next request."""

from django.db import migrations

from clinic.rules_cache import triggers


class Migration(migrations.Migration):
    dependencies = [
        ("clinic", "0009_rules_token"),
        ("scheduling", "0009_waitlist_confirmation"),
    ]

    operations = [
        triggers(
            "scheduling_service",
            "scheduling_service_required_acts",
            "scheduling_offering",
            "scheduling_bookingpolicyoverride",
            "scheduling_closure",
        )
    ]
