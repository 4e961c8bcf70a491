"""The FHIR R4 read API (DOMAIN.md section 12): every resource and every search validated
against the R4B models of ``fhir.resources``, which this project did not write."""

import datetime
from urllib.parse import urlencode, urlparse

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from clinic import roles
from clinic.models import AuditEvent
from providers.models import Provider
from scheduling.models import Appointment, Offering
from scheduling.services import book_appointment, cancel_appointment, change_status
from tests.conftest import client_for
from tests.factories.patients import PatientFactory, clinician_user, link_patient, staff_user
from tests.factories.plans import in_rehabilitation
from tests.factories.providers import ProviderFactory
from tests.scheduling.conftest import local, next_week

pytestmark = pytest.mark.django_db
TYPES = (
    "Practitioner",
    "PractitionerRole",
    "Location",
    "HealthcareService",
    "Schedule",
    "Slot",
    "Appointment",
    "Patient",
    "CarePlan",
)


@pytest.fixture(autouse=True)
def _throttles(no_throttles):
    return no_throttles


@pytest.fixture
def world(physio, assessment, location):
    """A patient of the physio with an appointment and a care plan in rehabilitation; a
    second patient nobody treats."""
    own = clinician_user("fhir-own", provider=physio)
    patient = PatientFactory(first_name="Ada", last_name="Lovelace")
    appointment = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "10:00"),
        patient=patient,
        provider=physio,
        reason="Knee pain after running",
    )
    plan = in_rehabilitation(patient=patient, lead=physio, location=location)
    stranger = PatientFactory(first_name="Sam", last_name="Stranger")
    return {
        "own": own,
        "other": clinician_user("fhir-other", provider=ProviderFactory(locations=[location])),
        "front_desk": staff_user("fhir-desk", roles.FRONT_DESK),
        "manager": staff_user("fhir-manager", roles.MANAGER),
        "patient": patient,
        "stranger": stranger,
        "appointment": appointment,
        "plan": plan,
        "schedule": f"{physio.pk}-{location.pk}",
        "service": assessment,
    }


def get(user, path: str, **params):
    client = client_for(user) if user is not None else APIClient()
    query = f"?{urlencode(params, doseq=True)}" if params else ""
    return client.get(f"/fhir/R4/{path}{query}")


def resource_of(response, resource_type: str) -> dict:
    """The body, validated by the R4B model of its type."""
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == resource_type
    get_fhir_model_class(resource_type).model_validate(body)
    return body


def bundle_of(response, resource_type: str) -> dict:
    body = resource_of(response, "Bundle")
    Bundle.model_validate(body)
    assert body["type"] == "searchset"
    assert "self" in {link["relation"] for link in body["link"]}
    for entry in body.get("entry", []):
        assert entry["resource"]["resourceType"] == resource_type
        get_fhir_model_class(resource_type).model_validate(entry["resource"])
    return body


def search_params_for(world, resource_type: str) -> dict:
    if resource_type == "Slot":
        return {"schedule": f"Schedule/{world['schedule']}", "service-type": world["service"].code}
    return {}


def test_metadata_is_a_capability_statement_naming_every_type_and_search(world):
    body = resource_of(get(world["manager"], "metadata"), "CapabilityStatement")
    assert body["fhirVersion"] == "4.0.1"
    served = {r["type"]: r for r in body["rest"][0]["resource"]}
    assert set(served) == set(TYPES)
    slot_params = {p["name"] for p in served["Slot"]["searchParam"]}
    assert {"schedule", "service-type", "start", "_count"} <= slot_params
    appointment_params = {p["name"] for p in served["Appointment"]["searchParam"]}
    assert {"patient", "practitioner", "date", "status"} <= appointment_params


@pytest.mark.parametrize("resource_type", TYPES)
def test_every_type_searches_and_reads_as_valid_r4_resources(world, resource_type):
    manager = world["manager"]
    bundle = bundle_of(
        get(manager, resource_type, **search_params_for(world, resource_type)), resource_type
    )
    assert bundle["total"] >= 1
    assert bundle["entry"]
    for entry in bundle["entry"][:3]:
        ident = entry["resource"]["id"]
        assert entry["fullUrl"].endswith(f"/fhir/R4/{resource_type}/{ident}")
        read = resource_of(get(manager, f"{resource_type}/{ident}"), resource_type)
        assert read == entry["resource"]


@pytest.mark.parametrize(
    ("resource_type", "params"),
    [
        ("Practitioner", {"name": "Priya", "active": "true"}),
        ("PractitionerRole", {"role": "physiotherapist", "location": "Location/{location}"}),
        ("PractitionerRole", {"practitioner": "Practitioner/{provider}", "service": "{service}"}),
        ("Location", {"name": "Pick", "address-city": "Pickering"}),
        ("HealthcareService", {"service-type": "physio-assessment", "location": "{location}"}),
        ("HealthcareService", {"name": "assessment", "active": "true"}),
        ("Schedule", {"actor": "Practitioner/{provider}", "service-type": "physio-assessment"}),
        ("Schedule", {"actor": "Location/{location}", "active": "true"}),
        (
            "Slot",
            {
                "schedule": "{schedule}",
                "service-type": "physio-assessment",
                "start": ["ge{day}", "lt{day2}"],
                "status": "free",
            },
        ),
        ("Appointment", {"patient": "Patient/{patient}", "status": "booked"}),
        (
            "Appointment",
            {"practitioner": "Practitioner/{provider}", "date": ["ge{day}", "lt{day2}"]},
        ),
        ("Appointment", {"location": "{location}", "_lastUpdated": "ge2020-01-01"}),
        ("Patient", {"family": "Love", "given": "Ad", "active": "true"}),
        ("Patient", {"name": "lovelace", "email": "{email}", "_lastUpdated": "ge2020-01-01"}),
        (
            "CarePlan",
            {"patient": "Patient/{patient}", "status": "active", "category": "rehabilitation"},
        ),
        ("CarePlan", {"subject": "{patient}", "_lastUpdated": "ge2020-01-01"}),
    ],
)
def test_every_search_parameter_finds_the_record_as_valid_r4(
    world, physio, location, resource_type, params
):
    day = next_week()
    values = {
        "location": location.pk,
        "provider": physio.pk,
        "service": world["service"].pk,
        "schedule": world["schedule"],
        "patient": world["patient"].pk,
        "email": world["patient"].email,
        "day": day.isoformat(),
        "day2": (day + datetime.timedelta(days=1)).isoformat(),
    }
    filled = {
        k: [v.format(**values) for v in vs] if isinstance(vs, list) else vs.format(**values)
        for k, vs in params.items()
    }
    bundle = bundle_of(get(world["manager"], resource_type, **filled), resource_type)
    assert bundle["total"] >= 1, filled


def test_appointment_states_map_to_fhir_statuses(world, physio, assessment, location):
    appointment = world["appointment"]
    manager = world["manager"]
    path = f"Appointment/{appointment.pk}"
    assert resource_of(get(manager, path), "Appointment")["status"] == "booked"
    after_start = appointment.start + datetime.timedelta(minutes=30)
    for action, expected in (("arrive", "arrived"), ("complete", "fulfilled")):
        change_status(Appointment.objects.get(pk=appointment.pk), action, now=after_start)
        assert resource_of(get(manager, path), "Appointment")["status"] == expected
    missed = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "15:00"),
        patient=world["patient"],
        provider=physio,
    )
    change_status(missed, "no_show", now=missed.end)
    assert resource_of(get(manager, f"Appointment/{missed.pk}"), "Appointment")["status"] == (
        "noshow"
    )
    later = book_appointment(
        service=assessment,
        location=location,
        start=local(next_week(), "13:00"),
        patient=world["patient"],
        provider=physio,
    )
    cancel_appointment(later, reason="Patient called", by="patient")
    body = resource_of(get(manager, f"Appointment/{later.pk}"), "Appointment")
    assert body["status"] == "cancelled"
    found = bundle_of(get(manager, "Appointment", status="cancelled"), "Appointment")
    assert [e["resource"]["id"] for e in found["entry"]] == [str(later.pk)]


def test_appointment_reason_is_for_clinical_roles_only(world):
    path = f"Appointment/{world['appointment'].pk}"
    clinician = resource_of(get(world["own"], path), "Appointment")
    assert clinician["reasonCode"] == [{"text": "Knee pain after running"}]
    desk = resource_of(get(world["front_desk"], path), "Appointment")
    assert "reasonCode" not in desk
    assert b"Knee pain" not in get(world["front_desk"], "Appointment").content


def test_front_desk_gets_patient_contact_details_without_clinical_fields(world, physio):
    desk = resource_of(get(world["front_desk"], f"Patient/{world['patient'].pk}"), "Patient")
    assert desk["name"][0]["family"] == "Lovelace"
    assert "generalPractitioner" not in desk
    clinician = resource_of(get(world["own"], f"Patient/{world['patient'].pk}"), "Patient")
    assert clinician["generalPractitioner"][0]["reference"] == f"Practitioner/{physio.pk}"


def test_front_desk_gets_no_care_plans(world):
    for path in ("CarePlan", f"CarePlan/{world['plan'].pk}"):
        response = get(world["front_desk"], path)
        assert response.status_code == 403
        assert (
            resource_of(response_ok(response), "OperationOutcome")["issue"][0]["code"]
            == "forbidden"
        )


def response_ok(response):
    """An error response's body checked as a resource (status aside)."""
    response.status_code = 200
    return response


def test_clinicians_see_only_patients_and_plans_they_may_read(world):
    other = world["other"]
    assert get(other, f"Patient/{world['patient'].pk}").status_code == 404
    assert get(other, f"CarePlan/{world['plan'].pk}").status_code == 404
    assert bundle_of(get(other, "CarePlan"), "CarePlan")["total"] == 0
    own = bundle_of(get(world["own"], "Patient"), "Patient")
    assert [e["resource"]["id"] for e in own["entry"]] == [str(world["patient"].pk)]


def test_care_plan_maps_phase_goals_diagnoses_and_activities(world):
    body = resource_of(get(world["own"], f"CarePlan/{world['plan'].pk}"), "CarePlan")
    assert body["status"] == "active"
    assert body["category"][0]["coding"][0]["code"] == "rehabilitation"
    kinds = sorted(r["resourceType"] for r in body["contained"])
    assert kinds == ["Condition", "Goal"]
    assert body["goal"][0]["reference"].startswith("#goal-")
    assert body["subject"]["reference"] == f"Patient/{world['patient'].pk}"


def test_clinical_reads_are_audited(world):
    before = AuditEvent.objects.filter(channel="fhir").count()
    get(world["own"], f"CarePlan/{world['plan'].pk}")
    get(world["own"], "Patient")
    rows = AuditEvent.objects.filter(channel="fhir").order_by("id")[before:]
    assert [(r.object_type, r.action, r.patient_id) for r in rows] == [
        ("plans.CarePlan", "read", world["patient"].pk),
        ("patients.Patient", "read", world["patient"].pk),
    ]


def test_errors_are_operation_outcomes_with_http_codes(world):
    manager = world["manager"]
    cases = [
        (get(None, "Patient"), 401, "login"),
        (get(manager, "Patient/999999"), 404, "not-found"),
        (get(manager, "Patient/not-an-id"), 404, "not-found"),
        (get(manager, "Patient", unknown="1"), 400, "invalid"),
        (get(manager, "Appointment", date="yesterday"), 400, "invalid"),
        (get(manager, "Patient", _count="-1"), 400, "invalid"),
        (get(manager, "Slot", schedule=world["schedule"]), 400, "invalid"),
        (get(manager, "Slot", schedule="999-999", **{"service-type": "x"}), 400, "invalid"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.content
        body = resource_of(response_ok(response), "OperationOutcome")
        assert body["issue"][0]["code"] == code


def test_paging_gives_total_and_next_links_to_the_end(world, physio, location):
    manager = world["manager"]
    params = {
        "schedule": world["schedule"],
        "service-type": world["service"].code,
        "start": [
            f"ge{next_week().isoformat()}",
            f"lt{(next_week() + datetime.timedelta(days=2)).isoformat()}",
        ],
        "_count": 5,
    }
    page = bundle_of(get(manager, "Slot", **params), "Slot")
    total, seen = page["total"], []
    while True:
        seen += [e["resource"]["id"] for e in page.get("entry", [])]
        nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not nxt:
            break
        url = urlparse(nxt[0])
        page = bundle_of(client_for(manager).get(f"{url.path}?{url.query}"), "Slot")
    assert total == len(seen) == len(set(seen)) > 10  # several pages, each start once


def test_what_is_served_is_exactly_the_json_the_r4b_models_write_back(world):
    """Resources are validated with the R4B models and served as the server's own data, not the
    models' dump (which cost as much again as validating): the two must be the same JSON, for
    every type, search and read, whatever the role sees."""

    def dumped(body: dict) -> dict:
        model = get_fhir_model_class(body["resourceType"])
        return model.model_validate(body).model_dump(mode="json", exclude_none=True)

    assert (
        dumped(get(world["manager"], "metadata").json()) == get(world["manager"], "metadata").json()
    )
    for user in (world["manager"], world["own"], world["front_desk"]):
        for resource_type in TYPES:
            response = get(user, resource_type, **search_params_for(world, resource_type))
            if response.status_code == 403:
                continue
            body = response.json()
            assert body.get("entry"), resource_type
            assert dumped(body) == body, resource_type
            for entry in body["entry"]:
                read = get(user, f"{resource_type}/{entry['resource']['id']}").json()
                assert dumped(read) == read == entry["resource"], resource_type


def test_searches_take_the_same_number_of_queries_for_more_rows(
    world, physio, assessment, location
):
    manager = world["manager"]

    def counts() -> dict[str, int]:
        out = {}
        for resource_type in (
            "Patient",
            "Appointment",
            "CarePlan",
            "PractitionerRole",
            "Practitioner",
            "Schedule",
            "HealthcareService",
        ):
            with CaptureQueriesContext(connection) as queries:
                assert get(manager, resource_type).status_code == 200
            out[resource_type] = len(queries)
        return out

    get(manager, "metadata")  # first request of the process warms per-process caches
    first = counts()
    for offset in range(2, 6):
        patient = PatientFactory()
        link_patient(patient, physio)
        book_appointment(
            service=assessment,
            location=location,
            start=local(next_week() + datetime.timedelta(days=offset), "11:00"),
            patient=patient,
            provider=physio,
        )
        in_rehabilitation(patient=patient, lead=physio, location=location)
    assert counts() == first


@pytest.mark.slow
def test_demo_slot_search_for_a_month_matches_the_public_availability(client, settings):
    """Same start times, offering by offering, for a month of the demo clinic."""
    call_command("seed_demo", verbosity=0)
    manager = staff_user("fhir-demo-manager", roles.MANAGER)
    first, last = datetime.date.today(), datetime.date.today() + datetime.timedelta(days=30)
    offerings = Offering.objects.filter(
        is_active=True, service__online_bookable=True, service__is_active=True
    ).select_related("service", "location")[:6]
    assert offerings
    compared = 0
    for offering in offerings:
        public = client.get(
            "/api/v1/public/availability/",
            {
                "service": offering.service_id,
                "location": offering.location_id,
                "provider": offering.provider_id,
                "start": first.isoformat(),
                "end": last.isoformat(),
            },
        )
        assert public.status_code == 200, public.content
        expected = [datetime.datetime.fromisoformat(s["start"]) for s in public.json()["slots"]]
        starts, url = (
            [],
            "/fhir/R4/Slot?"
            + urlencode(
                {
                    "schedule": f"Schedule/{offering.provider_id}-{offering.location_id}",
                    "service-type": offering.service.code,
                    "start": [
                        f"ge{first.isoformat()}",
                        f"lt{(last + datetime.timedelta(days=1)).isoformat()}",
                    ],
                    "_count": 200,
                },
                doseq=True,
            ),
        )
        while url:
            page = bundle_of(client_for(manager).get(url), "Slot")
            starts += [
                datetime.datetime.fromisoformat(e["resource"]["start"])
                for e in page.get("entry", [])
            ]
            nxt = [link["url"] for link in page["link"] if link["relation"] == "next"]
            url = (lambda u: f"{u.path}?{u.query}")(urlparse(nxt[0])) if nxt else None
        assert starts == expected, offering
        compared += len(starts)
    assert compared > 0
    assert Provider.objects.exists()
