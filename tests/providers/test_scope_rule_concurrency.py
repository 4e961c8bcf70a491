"""Two managers saving the same scope rule at once: the row lock serialises them, so the history
is a chain (each change's "before" is what the previous change left), with nothing lost."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from providers import services
from providers.models import ScopeRule, ScopeRuleChange
from tests.factories.providers import ensure_scope_catalog


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_rule_edits_leave_a_consistent_history_chain():
    ensure_scope_catalog()
    rule = ScopeRule.objects.get(
        discipline__code="physiotherapist", act__code="acupuncture", jurisdiction=""
    )
    users = [get_user_model().objects.create_user(username=f"mgr-{n}") for n in range(2)]
    loaded = threading.Barrier(2)
    errors: list[BaseException] = []

    def edit(user, note: str) -> None:
        try:
            mine = ScopeRule.objects.select_related("discipline", "act").get(pk=rule.pk)
            loaded.wait(timeout=10)
            mine.note = note
            services.save_scope_rule(mine, actor=user, channel="api")
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=edit, args=(users[0], "first")),
        threading.Thread(target=edit, args=(users[1], "second")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    changes = list(ScopeRuleChange.objects.order_by("id"))
    assert len(changes) == 2
    assert changes[0].before["note"] == ""
    assert changes[1].before["note"] == changes[0].after["note"]
    rule.refresh_from_db()
    assert rule.note == changes[1].after["note"]
    assert {c.changed_by_id for c in changes} == {u.pk for u in users}
