"""``manage.py seed_demo``: build (or bring up to date) the demo clinic. Idempotent."""

import importlib
import importlib.util

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from clinic import demo

# Seeders run in dependency order; each app's ``demo.seed(ctx)`` builds its own rows.
SEEDER_APPS = ["clinic", "providers", "patients", "scheduling", "plans", "notifications"]


class Command(BaseCommand):
    help = "Create or update the demo clinic (locations, staff, providers, patients, bookings)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Seed even under production settings (demo passwords are public).",
        )

    def handle(self, *args, allow_production: bool = False, **options) -> None:
        if settings.PRODUCTION and not allow_production:
            raise CommandError("Refusing to seed demo users with public passwords in production.")
        ctx = demo.DemoContext(today=timezone.localdate())
        with transaction.atomic():
            for app in SEEDER_APPS:
                if importlib.util.find_spec(f"{app}.demo") is None:
                    continue
                importlib.import_module(f"{app}.demo").seed(ctx)
        self.stdout.write(self.style.SUCCESS("Demo clinic ready. Staff logins:"))
        for role, username, password in ctx.logins:
            self.stdout.write(f"  {role:<11} {username:<12} {password}")
