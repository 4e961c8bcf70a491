"""The decision's credential rules: dates judged in the location's zone, status, jurisdiction,
endorsements and overrides, each refused with its own reason code."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from providers.errors import OutOfScope
from providers.models import Credential
from providers.scope import decide, decide_acts
from tests.factories.clinic import LocationFactory
from tests.factories.providers import CredentialFactory, DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db

TORONTO = ZoneInfo("America/Toronto")
WINNIPEG = ZoneInfo("America/Winnipeg")


def physio(location, **credential):
    provider = ProviderFactory(locations=[location], credentials=False)
    credential.setdefault("jurisdiction", location.jurisdiction)
    CredentialFactory(provider=provider, **credential)
    return provider


def local(zone, *args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=zone)


# 2026-11-01 is the day clocks go back in Ontario: the day has 25 hours.
DST_END = dt.date(2026, 11, 1)


def test_licence_covers_care_starting_in_the_last_minute_of_its_last_day(toronto):
    provider = physio(toronto, valid_from=dt.date(2025, 1, 1), valid_until=DST_END)
    last_minute = local(TORONTO, 2026, 11, 1, 23, 59)
    assert decide(provider, "manual_therapy", toronto, last_minute).allowed


def test_licence_refuses_care_starting_at_midnight_after_its_last_day(toronto):
    provider = physio(toronto, valid_from=dt.date(2025, 1, 1), valid_until=DST_END)
    first_refused = local(TORONTO, 2026, 11, 2, 0, 0)
    decision = decide(provider, "manual_therapy", toronto, first_refused)
    assert not decision.allowed
    assert decision.codes == ("credential_expired",)
    assert "2026-11-01" in decision.reasons[0].message


def test_expiry_is_judged_in_the_zone_of_the_location_not_utc(toronto):
    """23:30 Toronto on the last day is already the next day in UTC; still covered."""
    provider = physio(toronto, valid_from=dt.date(2025, 1, 1), valid_until=dt.date(2026, 12, 1))
    at = local(TORONTO, 2026, 12, 1, 23, 30).astimezone(dt.UTC)
    assert at.date() == dt.date(2026, 12, 2)
    assert decide(provider, "manual_therapy", toronto, at).allowed


def test_same_instant_is_covered_in_winnipeg_and_refused_in_toronto(toronto):
    """Both Ontario, one hour apart: the licence's last day ends an hour later in Kenora."""
    kenora = LocationFactory(
        slug="t-kenora", name="T Kenora", timezone="America/Winnipeg", jurisdiction="CA-ON"
    )
    provider = physio(toronto, valid_from=dt.date(2025, 1, 1), valid_until=dt.date(2026, 12, 1))
    instant = local(TORONTO, 2026, 12, 2, 0, 30)  # 23:30 on Dec 1 in Winnipeg
    assert instant.astimezone(WINNIPEG).date() == dt.date(2026, 12, 1)
    assert decide(provider, "manual_therapy", kenora, instant).allowed
    assert decide(provider, "manual_therapy", toronto, instant).codes == ("credential_expired",)


def test_licence_is_not_valid_before_its_first_local_day(toronto):
    provider = physio(toronto, valid_from=dt.date(2026, 12, 1))
    assert decide(provider, "manual_therapy", toronto, local(TORONTO, 2026, 12, 1, 0, 0)).allowed
    decision = decide(provider, "manual_therapy", toronto, local(TORONTO, 2026, 11, 30, 23, 59))
    assert decision.codes == ("credential_not_yet_valid",)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (Credential.Status.SUSPENDED, "credential_suspended"),
        (Credential.Status.REVOKED, "credential_revoked"),
    ],
)
def test_suspended_or_revoked_licence_refuses_every_act(toronto, noon_utc, status, code):
    provider = physio(toronto, status=status)
    decision = decide_acts(provider, ["manual_therapy", "diagnose"], toronto, noon_utc)
    assert decision.codes == (code,)


def test_licence_from_another_jurisdiction_does_not_cover_care_there(toronto, new_york, noon_utc):
    provider = physio(toronto)
    assert decide(provider, "manual_therapy", toronto, noon_utc).allowed
    decision = decide(provider, "manual_therapy", new_york, noon_utc)
    assert decision.codes == ("credential_other_jurisdiction",)
    assert "US-NY" in decision.reasons[0].message


def test_provider_without_credential_is_refused(toronto, noon_utc):
    provider = ProviderFactory(locations=[toronto], credentials=False)
    assert decide(provider, "manual_therapy", toronto, noon_utc).codes == ("no_credential",)


def test_one_current_licence_is_enough_when_another_has_lapsed(toronto, noon_utc):
    provider = physio(toronto, status=Credential.Status.SUSPENDED)
    CredentialFactory(provider=provider, jurisdiction="CA-ON")
    assert decide(provider, "manual_therapy", toronto, noon_utc).allowed


def test_dry_needling_needs_the_endorsement_in_ontario(toronto, noon_utc):
    plain = physio(toronto)
    endorsed = physio(toronto, endorsements=["dry_needling"])
    assert decide(plain, "dry_needling", toronto, noon_utc).codes == ("endorsement_missing",)
    assert decide(endorsed, "dry_needling", toronto, noon_utc).allowed


def test_endorsement_must_sit_on_a_current_credential(toronto, noon_utc):
    provider = physio(toronto)  # current, not endorsed
    CredentialFactory(
        provider=provider,
        jurisdiction="CA-ON",
        endorsements=["dry_needling"],
        valid_from=dt.date(2020, 1, 1),
        valid_until=dt.date(2021, 1, 1),
    )
    assert decide(provider, "dry_needling", toronto, noon_utc).codes == ("endorsement_missing",)


def test_endorsed_but_expired_licence_is_explained_by_its_expiry(toronto, noon_utc):
    provider = physio(
        toronto,
        endorsements=["dry_needling"],
        valid_from=dt.date(2020, 1, 1),
        valid_until=dt.date(2021, 1, 1),
    )
    assert decide(provider, "dry_needling", toronto, noon_utc).codes == ("credential_expired",)


def test_new_york_override_forbids_dry_needling_even_with_endorsement(new_york, noon_utc):
    provider = physio(new_york, endorsements=["dry_needling"])
    decision = decide(provider, "dry_needling", new_york, noon_utc)
    assert decision.codes == ("forbidden_in_jurisdiction",)
    assert decide(provider, "manual_therapy", new_york, noon_utc).allowed


def test_act_outside_the_discipline_is_refused_whatever_the_credential(toronto, noon_utc):
    trainer = ProviderFactory(
        discipline=DisciplineFactory(code="personal_trainer"),
        locations=[toronto],
        credentials__kind="certification",
        credentials__jurisdiction="",
    )
    assert decide(trainer, "fitness_training", toronto, noon_utc).allowed
    assert decide(trainer, "diagnose", toronto, noon_utc).codes == ("act_not_in_discipline",)


def test_inactive_provider_is_refused(toronto, noon_utc):
    provider = physio(toronto)
    provider.is_active = False
    provider.save()
    assert decide(provider, "manual_therapy", toronto, noon_utc).codes == ("provider_inactive",)


def test_unknown_act_is_refused_not_crashed(toronto, noon_utc):
    provider = physio(toronto)
    assert decide(provider, "levitation", toronto, noon_utc).codes == ("unknown_act",)


def test_all_acts_must_hold_and_every_refused_act_is_named(toronto, noon_utc):
    provider = physio(toronto)
    decision = decide_acts(
        provider, ["manual_therapy", "dry_needling", "fitness_training"], toronto, noon_utc
    )
    assert not decision.allowed
    assert [(r.code, r.act) for r in decision.reasons] == [
        ("endorsement_missing", "dry_needling"),
        ("act_not_in_discipline", "fitness_training"),
    ]


def test_naive_datetime_is_a_programming_error(toronto):
    provider = physio(toronto)
    with pytest.raises(ValueError, match="aware"):
        decide(provider, "manual_therapy", toronto, dt.datetime(2026, 12, 1, 9))


def test_refusal_raises_out_of_scope_naming_the_field_and_reasons(toronto, noon_utc):
    provider = physio(toronto, status=Credential.Status.SUSPENDED)
    decision = decide_acts(provider, ["manual_therapy", "dry_needling"], toronto, noon_utc)
    with pytest.raises(OutOfScope) as caught:
        decision.raise_if_refused(field="lead_provider")
    problem = caught.value
    assert problem.slug == "out-of-scope"
    assert problem.status == 422
    assert [(e.field, e.code) for e in problem.errors] == [
        ("lead_provider", "credential_suspended"),
        ("lead_provider", "endorsement_missing"),
    ]


def test_allowed_decision_raises_nothing(toronto, noon_utc):
    decide(physio(toronto), "manual_therapy", toronto, noon_utc).raise_if_refused()
