"""``manage.py issue_token <username> [--rotate]``: the API token of a staff user.

Prints the user's token for ``Authorization: Token <key>``, creating it if needed. Refuses users
without a staff role, so a token never opens the staff API to someone the roles do not cover.
``--rotate`` replaces the key (the old one stops working at once).
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from clinic import roles


class Command(BaseCommand):
    help = "Print (or, with --rotate, replace) the API token of a staff user."

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="Replace the existing key.")

    def handle(self, *args, username: str, rotate: bool = False, **options) -> None:
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user {username!r}.")
        if not roles.has_staff_role(user):
            raise CommandError(
                f"{username!r} has no staff role (front_desk, clinician, manager); add one first."
            )
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
