"""Property: no credential, endorsement or time lets a provider perform an act that the rules for
their discipline and jurisdiction forbid, and every permission is backed by a credential that is
active, in date locally, of an accepted kind, valid in the jurisdiction and endorsed if needed."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.models import Act, Credential, CredentialRequirement, Discipline, ScopeRule
from providers.scope import decide, load_scope_index
from tests.factories.clinic import LocationFactory
from tests.factories.providers import CredentialFactory, DisciplineFactory, ProviderFactory

pytestmark = pytest.mark.django_db

DISCIPLINES = [
    "physiotherapist",
    "massage_therapist",
    "personal_trainer",
    "exercise_therapist",
    "chiropractor",
]
ACTS = [
    "diagnose",
    "dry_needling",
    "spinal_manipulation",
    "acupuncture",
    "soft_tissue_massage",
    "fitness_training",
    "free_consult",
]
PLACES = {
    "CA-ON": "America/Toronto",
    "US-NY": "America/New_York",
    "CA-BC": "America/Vancouver",
}
BASE = dt.date(2026, 11, 1)

credentials = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from([k.value for k in Credential.Kind]),
            "jurisdiction": st.sampled_from(["", *PLACES]),
            "status": st.sampled_from([s.value for s in Credential.Status]),
            "start": st.integers(-40, 10),
            "length": st.one_of(st.none(), st.integers(0, 40)),
            "endorsements": st.lists(st.sampled_from(ACTS), max_size=3, unique=True),
        }
    ),
    max_size=3,
)


def effective_rule(discipline: Discipline, act: Act, jurisdiction: str) -> ScopeRule | None:
    rules = ScopeRule.objects.filter(discipline=discipline, act=act)
    return rules.filter(jurisdiction=jurisdiction).first() or rules.filter(jurisdiction="").first()


def accepted_kinds(discipline: Discipline, jurisdiction: str) -> set[str]:
    reqs = CredentialRequirement.objects.filter(discipline=discipline)
    req = reqs.filter(jurisdiction=jurisdiction).first() or reqs.filter(jurisdiction="").first()
    return set(req.kinds) if req else {k.value for k in Credential.Kind}


def backing_credential_exists(provider, act: Act, jurisdiction: str, on: dt.date, endorse: bool):
    for c in provider.credentials.prefetch_related("endorsements"):
        if (
            c.status == Credential.Status.ACTIVE
            and c.kind in accepted_kinds(provider.discipline, jurisdiction)
            and c.jurisdiction in ("", jurisdiction)
            and c.valid_from <= on
            and (c.valid_until is None or on <= c.valid_until)
            and (not endorse or act in c.endorsements.all())
        ):
            return True
    return False


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    discipline_code=st.sampled_from(DISCIPLINES),
    act_code=st.sampled_from(ACTS),
    jurisdiction=st.sampled_from(list(PLACES)),
    creds=credentials,
    minutes=st.integers(-2 * 24 * 60, 2 * 24 * 60),
    active=st.booleans(),
)
def test_no_credential_or_time_lets_a_provider_act_outside_the_rules(
    discipline_code, act_code, jurisdiction, creds, minutes, active
):
    with transaction.atomic():
        location = LocationFactory(
            slug="prop-loc", name="Prop", jurisdiction=jurisdiction, timezone=PLACES[jurisdiction]
        )
        discipline = DisciplineFactory(code=discipline_code)
        provider = ProviderFactory(
            discipline=discipline, locations=[location], credentials=False, is_active=active
        )
        for c in creds:
            valid_from = BASE + dt.timedelta(days=c["start"])
            until = None if c["length"] is None else valid_from + dt.timedelta(days=c["length"])
            CredentialFactory(
                provider=provider,
                kind=c["kind"],
                jurisdiction=c["jurisdiction"] or ("" if c["kind"] == "certification" else "CA-ON"),
                status=c["status"],
                valid_from=valid_from,
                valid_until=until,
                endorsements=c["endorsements"],
            )
        at = dt.datetime.combine(BASE, dt.time(12), tzinfo=dt.UTC) + dt.timedelta(minutes=minutes)
        on = at.astimezone(ZoneInfo(PLACES[jurisdiction])).date()
        act = Act.objects.get(code=act_code)

        decision = decide(provider, act_code, location, at)
        bulk = load_scope_index([provider.pk], [act_code], jurisdiction).decide_acts(
            provider.pk, [act_code], location, at
        )
        rule = effective_rule(discipline, act, jurisdiction)

        assert decision == bulk
        assert decision.allowed == (not decision.reasons)
        if rule is None or not rule.allowed:
            assert not decision.allowed
            assert decision.codes[-1] in {"act_not_in_discipline", "forbidden_in_jurisdiction"}
        if decision.allowed:
            assert active
            assert backing_credential_exists(
                provider, act, jurisdiction, on, endorse=rule.requires_endorsement
            )
        elif rule is not None and rule.allowed and active:
            assert not backing_credential_exists(
                provider, act, jurisdiction, on, endorse=rule.requires_endorsement
            )
        transaction.set_rollback(True)
