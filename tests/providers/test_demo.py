"""The demo seed shows each scope rule with real-looking providers."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from clinic import demo as clinic_demo
from clinic.demo import DemoContext
from clinic.models import Location
from providers import demo as providers_demo
from providers.models import Provider
from providers.scope import decide

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    """Only the seeders this app depends on (the full ``seed_demo`` is tested elsewhere)."""
    ctx = DemoContext(today=timezone.localdate())
    clinic_demo.seed(ctx)
    providers_demo.seed(ctx)
    return {loc.slug: loc for loc in Location.objects.all()}


def at_noon(location, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(location.timezone))


def provider(email: str) -> Provider:
    return Provider.objects.get(email=email)


def test_demo_has_the_disciplines_mix_over_all_locations(demo):
    counts = {}
    for p in Provider.objects.select_related("discipline"):
        counts[p.discipline.code] = counts.get(p.discipline.code, 0) + 1
    assert counts == {
        "physiotherapist": 3,
        "massage_therapist": 2,
        "exercise_therapist": 1,
        "personal_trainer": 2,
        "chiropractor": 1,
    }
    used = set(Location.objects.filter(providers__isnull=False).values_list("slug", flat=True))
    assert used == {"pickering", "milton", "brooklyn", "online"}


def test_demo_clinician_is_the_dry_needling_physio_at_pickering(demo):
    priya = provider("priya.patel@clinic.example")
    assert priya.user.username == "clinician"
    assert demo["pickering"] in priya.locations.all()
    today = timezone.localdate()
    pickering = demo["pickering"]
    assert decide(priya, "dry_needling", pickering, at_noon(pickering, today)).allowed
    refused = decide(priya, "dry_needling", demo["brooklyn"], at_noon(demo["brooklyn"], today))
    assert refused.codes == ("forbidden_in_jurisdiction",)


def test_demo_licence_expiring_in_ten_days_blocks_care_after_it(demo):
    daniel = provider("daniel.okafor@clinic.example")
    milton = demo["milton"]
    last = timezone.localdate() + dt.timedelta(days=10)
    assert decide(daniel, "manual_therapy", milton, at_noon(milton, last)).allowed
    after = decide(daniel, "manual_therapy", milton, at_noon(milton, last + dt.timedelta(days=1)))
    assert after.codes == ("credential_expired",)


def test_demo_physio_licensed_only_in_ontario_is_refused_in_brooklyn(demo):
    sam = provider("sam.rivera@clinic.example")
    today = timezone.localdate()
    assert decide(sam, "manual_therapy", demo["milton"], at_noon(demo["milton"], today)).allowed
    refused = decide(sam, "manual_therapy", demo["brooklyn"], at_noon(demo["brooklyn"], today))
    assert refused.codes == ("credential_other_jurisdiction",)


def test_demo_trainer_and_exercise_therapist_can_log_in_as_clinicians(demo):
    for email, username in [
        ("jordan.blake@clinic.example", "trainer"),
        ("aisha.rahman@clinic.example", "extherapist"),
    ]:
        user = provider(email).user
        assert user.username == username
        assert user.groups.filter(name="clinician").exists()
        assert user.check_password(f"demo-{username}-pass")


def test_demo_providers_seed_twice_changes_nothing(demo):
    before = list(Provider.objects.order_by("pk").values_list())
    providers_demo.seed(DemoContext(today=timezone.localdate()))
    assert list(Provider.objects.order_by("pk").values_list()) == before
