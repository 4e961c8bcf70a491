"""``flush`` that can empty the append-only audit table on SQLite.

PostgreSQL flushes with TRUNCATE, which the row trigger does not see. SQLite flushes with DELETE,
which its trigger refuses; wiping the whole database (tests, ``manage.py flush``) is the one time
the guard steps aside, and it is put back in the same transaction.
"""

from django.core.management.commands import flush
from django.db import connections, transaction

from clinic.audit import SQLITE_GUARDS


class Command(flush.Command):
    def handle(self, **options):
        connection = connections[options["database"]]
        if connection.vendor != "sqlite":
            return super().handle(**options)
        with transaction.atomic(using=connection.alias):
            with connection.cursor() as cursor:
                for _, unguard in SQLITE_GUARDS:
                    for statement in unguard:
                        cursor.execute(statement)
            try:
                return super().handle(**options)
            finally:
                with connection.cursor() as cursor:
                    for guard, _ in SQLITE_GUARDS:
                        for statement in guard:
                            cursor.execute(statement)
