"""A client generated from ``/api/schema/`` by a standard generator works unchanged (API.md):
openapi-python-client builds it into a temporary directory, and it books, reads, cancels and
receives problem+json refusals against a live server. Bodies go out as JSON because the schema
advertises nothing else; before this, the generator sent the nested booking as multipart."""

import datetime
import importlib
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from clinic.models import Room
from scheduling.models import Appointment
from tests.factories.clinic import LocationFactory, RoomFactory
from tests.factories.providers import ProviderFactory, ensure_scope_catalog
from tests.factories.scheduling import ServiceFactory, offer, weekly_hours
from tests.scheduling.conftest import local, next_week

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "clinic_generated_client"


@pytest.fixture
def generated(tmp_path, live_server):
    """The client package generated from the live server's schema, imported."""
    schema = httpx.get(f"{live_server.url}/api/schema/?format=json", timeout=60)
    assert schema.status_code == 200
    validate(schema.json())
    (tmp_path / "schema.json").write_text(schema.text)
    (tmp_path / "config.yml").write_text("post_hooks: []\n")
    subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(tmp_path / "schema.json"),
            "--config",
            str(tmp_path / "config.yml"),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture
def clinic():
    """A Toronto clinic with a treatment room and a physiotherapist working every day."""
    ensure_scope_catalog()
    location = LocationFactory(slug="pickering", name="Pickering")
    RoomFactory(location=location, kind=Room.Kind.TREATMENT)
    service = ServiceFactory(code="assessment", acts=["diagnose"], room_kind="treatment")
    provider = ProviderFactory(display_name="Priya Physio", locations=[location])
    offer(provider, service, location)
    weekly_hours(provider, location)
    return location, service, provider


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_generated_client_books_reads_cancels_and_reads_refusals(generated, clinic, live_server):
    location, service, provider = clinic
    public = importlib.import_module(f"{PACKAGE}.api.public")
    models = importlib.import_module(f"{PACKAGE}.models")
    client = generated.Client(base_url=live_server.url, raise_on_unexpected_status=True)

    def module(name: str):
        return importlib.import_module(f"{public.__name__}.{name}")

    [listed] = module("public_services_list").sync(client=client, location=location.pk)
    assert listed.id == service.pk
    assert listed.required_fields == ["patient.date_of_birth", "reason"]

    def booking(start: datetime.datetime):
        return models.BookingRequestRequest(
            service=service.pk,
            location=location.pk,
            start=start,
            patient=models.BookingPatientRequest(
                first_name="Ada",
                last_name="Lovelace",
                email="ada@example.org",
                phone="+1 905 555 0100",
                date_of_birth=datetime.date(1990, 5, 1),
            ),
            consent=models.BookingRequestRequestConsent.from_dict(
                {"reminders": True, "care_plans": False, "marketing": False}
            ),
            reason="Knee pain after running",
        )

    create = module("public_bookings_create")
    booked = create.sync_detailed(client=client, body=booking(local(next_week(), "10:00")))
    assert booked.status_code == 201, booked.content
    made = booked.parsed
    assert isinstance(made, models.PublicBooking)
    assert made.provider == provider.pk
    assert Appointment.objects.get(reference=made.reference).reason == "Knee pain after running"

    read = module("public_bookings_retrieve").sync(
        made.reference, client=client, token=made.manage_token
    )
    assert (read.reference, read.status) == (made.reference, "booked")

    cancel = module("public_bookings_cancel_create")
    body = models.PublicCancelRequest(token=made.manage_token, reason="Feeling better")
    cancelled = cancel.sync(made.reference, client=client, body=body)
    assert cancelled.status == "cancelled"

    again = cancel.sync_detailed(made.reference, client=client, body=body)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert isinstance(again.parsed, models.Problem)
    assert again.parsed.type_.endswith("/invalid-transition")

    off_grid = create.sync_detailed(client=client, body=booking(local(next_week(), "10:07")))
    assert off_grid.status_code == 422
    assert off_grid.parsed.type_.endswith("/not-a-slot")
    assert [e.field for e in off_grid.parsed.errors] == ["start"]

    # The waitlist: join (a new person), read the entry back with its token, then leave it.
    window = models.WaitlistWindowRequest(from_="08:00", to="18:00")
    wish = models.PublicWaitlistRequestRequest(
        service=service.pk,
        location=location.pk,
        earliest_date=next_week(),
        latest_date=next_week() + datetime.timedelta(days=14),
        windows=[window],
        patient=models.BookingPatientRequest(
            first_name="Grace", last_name="Hopper", email="grace@example.org"
        ),
        consent=models.PublicWaitlistRequestRequestConsent.from_dict(
            {"reminders": True, "care_plans": False, "marketing": False}
        ),
    )
    joined = module("public_waitlist_create").sync_detailed(client=client, body=wish)
    assert joined.status_code == 201, joined.content
    entry = joined.parsed
    shown = module("public_waitlist_retrieve").sync(entry.id, client=client, token=entry.token)
    assert (shown.status, shown.offer) == ("waiting", None)
    left = module("public_waitlist_withdraw_create").sync(
        entry.id, client=client, body=models.WaitlistClaimRequest(token=entry.token)
    )
    assert left.status == "withdrawn"
