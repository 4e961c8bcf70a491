"""The bulk index answers exactly as the single decision, and loading it costs the same number of
queries for 1 provider as for 20; asking it costs no query at all (availability asks per slot)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from providers.models import Credential
from providers.scope import decide_acts, load_scope_index
from tests.factories.providers import CredentialFactory, DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db

ACT_SETS = [
    ["manual_therapy"],
    ["dry_needling"],
    ["soft_tissue_massage"],
    ["fitness_training", "fitness_assessment"],
    ["diagnose", "prescribe_treatment_plan"],
    ["free_consult"],
]
ALL_ACTS = sorted({a for acts in ACT_SETS for a in acts})


def mixed_providers(count: int, location) -> list:
    """A varied crowd: lapsed, suspended, endorsed, other disciplines, no credential."""
    disciplines = ["physiotherapist", "massage_therapist", "personal_trainer", "chiropractor"]
    providers = []
    for i in range(count):
        code = disciplines[i % len(disciplines)]
        provider = ProviderFactory(
            discipline=DisciplineFactory(code=code), locations=[location], credentials=False
        )
        if i % 5 != 4:
            CredentialFactory(
                provider=provider,
                kind="certification" if code == "personal_trainer" else "licence",
                jurisdiction="" if code == "personal_trainer" else "CA-ON",
                status=Credential.Status.SUSPENDED if i % 7 == 3 else Credential.Status.ACTIVE,
                valid_until=dt.date(2026, 12, 1) if i % 3 == 0 else None,
                endorsements=["dry_needling"] if i % 2 else [],
            )
        providers.append(provider)
    return providers


def test_bulk_index_gives_the_same_answers_as_the_single_decision(toronto):
    providers = mixed_providers(20, toronto)
    times = [
        dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 2, 4, 59, tzinfo=dt.UTC),  # 23:59 Dec 1 in Toronto
        dt.datetime(2026, 12, 2, 5, 0, tzinfo=dt.UTC),  # 00:00 Dec 2 in Toronto
    ]
    index = load_scope_index([p.pk for p in providers], ALL_ACTS, "CA-ON")
    compared = allowed = 0
    for provider in providers:
        for acts in ACT_SETS:
            for at in times:
                single = decide_acts(provider, acts, toronto, at)
                assert index.decide_acts(provider.pk, acts, toronto, at) == single
                compared += 1
                allowed += single.allowed
    assert compared == 20 * len(ACT_SETS) * len(times)
    assert 0 < allowed < compared  # the crowd is really mixed


def test_loading_the_index_costs_the_same_queries_for_1_or_20_providers(toronto):
    providers = mixed_providers(20, toronto)
    with CaptureQueriesContext(connection) as one:
        load_scope_index([providers[0].pk], ALL_ACTS, "CA-ON")
    with CaptureQueriesContext(connection) as twenty:
        index = load_scope_index([p.pk for p in providers], ALL_ACTS, "CA-ON")
    assert len(one) == len(twenty) == 6
    at = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    with CaptureQueriesContext(connection) as asking:
        for provider in providers:
            for acts in ACT_SETS:
                index.decide_acts(provider.pk, acts, toronto, at)
    assert len(asking) == 0


def test_index_refuses_a_location_of_another_jurisdiction(toronto, new_york):
    provider = ProviderFactory(locations=[toronto])
    index = load_scope_index([provider.pk], ["manual_therapy"], "CA-ON")
    at = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="CA-ON"):
        index.decide_acts(provider.pk, ["manual_therapy"], new_york, at)


def test_index_refuses_acts_it_was_not_loaded_with(toronto):
    provider = ProviderFactory(locations=[toronto])
    index = load_scope_index([provider.pk], ["manual_therapy"], "CA-ON")
    at = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="diagnose"):
        index.decide_acts(provider.pk, ["diagnose"], toronto, at)


def test_decisions_change_only_on_the_days_the_index_names():
    """The availability search asks once per span between these days; a credential valid from
    Dec 3 until Dec 10 makes Dec 3 and Dec 11 the only days its answer can change."""
    provider = ProviderFactory(credentials=False)
    CredentialFactory(
        provider=provider,
        valid_from=dt.date(2026, 12, 3),
        valid_until=dt.date(2026, 12, 10),
    )
    index = load_scope_index([provider.pk], ["manual_therapy"], "CA-ON")
    days = index.change_days(provider.pk, dt.date(2026, 12, 1), dt.date(2026, 12, 31))
    assert days == [dt.date(2026, 12, 3), dt.date(2026, 12, 11)]
    inside = index.change_days(provider.pk, dt.date(2026, 12, 4), dt.date(2026, 12, 9))
    assert inside == []
