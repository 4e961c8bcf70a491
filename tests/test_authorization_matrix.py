"""Least privilege on every staff endpoint (DOMAIN.md section 8), as one table.

The endpoints come from the URL configuration (every route under ``/api/v1/`` except the public
widget API), with their HTTP methods read from the views. Each (route name, method) must have a
row in ``MATRIX`` giving the expected status for each role, in the order of ``ROLES``:

    anonymous, front desk, the patient's clinician, another clinician, manager

A new endpoint (or a new method on one) without a row fails ``test_every_staff_endpoint_is_in_
the_matrix``. Adding one is one line::

    ("appointment-list", "GET"): (401, 200, 200, 200, 200),

``ALLOWED`` means "passes the permission gate" (any status other than 401/403/404/405 and below
500) for writes whose exact answer depends on the body. Routes with a URL argument (``{pk}``,
``{reference}``) use the object that ``OBJECTS[basename](world)`` returns (the argument is read
from the object's attribute of that name); without an entry they get an id that does not exist,
so allowed roles expect 404. ``BODIES`` gives request bodies; the default is ``{}``.
"""

import datetime
import json
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from clinic import roles
from clinic.audit import record_event
from clinic.models import AuditEvent, Room
from notifications import services as ledger
from notifications.models import Notification
from patients.grants import break_the_glass
from patients.models import AccessGrant, Patient, Referral
from plans.models import ProgramVersion
from plans.notes.lifecycle import start_note
from plans.notifications import KIND as PROGRAM_EMAIL
from providers.models import Act, CredentialRequirement, Discipline, ScopeRule
from scheduling import calendar_feed
from scheduling.models import Appointment, CallbackRequest
from scheduling.notifications import CONFIRMATION
from scheduling.selectors import public_slots
from scheduling.services import SeriesRule, book_appointment, book_series, join_waitlist
from scheduling.services.series import WEEKDAY_CODES
from tests.conftest import client_for
from tests.factories.clinic import LocationFactory, RoomFactory
from tests.factories.notes import visit
from tests.factories.patients import (
    PatientFactory,
    ReferralFactory,
    clinician_user,
    grant_consents,
    link_patient,
    staff_user,
)
from tests.factories.plans import CarePlanFactory, ExerciseFactory
from tests.factories.providers import DisciplineFactory, ProviderFactory
from tests.factories.scheduling import (
    ClosureFactory,
    OfferingFactory,
    ServiceFactory,
    offer,
    weekly_hours,
)

ROLES = ("anonymous", "front_desk", "own_clinician", "other_clinician", "manager")
ALLOWED = "allowed"
Expect = tuple[int | str, int | str, int | str, int | str, int | str]

READ_ALL: Expect = (401, 200, 200, 200, 200)
CONFIG_WRITE: Expect = (401, 403, 403, 403, ALLOWED)
MISSING_OBJECT_READ: Expect = (401, 404, 404, 404, 404)
MISSING_OBJECT_WRITE: Expect = (401, 403, 403, 403, 404)
# The appointment is the own clinician's: front desk manages every appointment.
SCHEDULE_READ: Expect = (401, 200, 200, 404, 200)
SCHEDULE_WRITE: Expect = (401, ALLOWED, ALLOWED, 404, ALLOWED)
CLINICAL_READ: Expect = (401, 403, 200, 404, 200)
CLINICAL_WRITE: Expect = (401, 403, ALLOWED, 404, ALLOWED)
CLINICAL_PART_MISSING: Expect = (401, 403, 404, 404, 404)

MATRIX: dict[tuple[str, str], Expect] = {
    # clinic: configuration, every role reads, managers change
    ("clinic-settings", "GET"): READ_ALL,
    ("clinic-settings", "PUT"): CONFIG_WRITE,
    ("clinic-settings", "PATCH"): CONFIG_WRITE,
    ("location-list", "GET"): READ_ALL,
    ("location-list", "POST"): CONFIG_WRITE,
    ("location-detail", "GET"): READ_ALL,
    ("location-detail", "PUT"): CONFIG_WRITE,
    ("location-detail", "PATCH"): CONFIG_WRITE,
    ("location-detail", "DELETE"): CONFIG_WRITE,
    ("room-list", "GET"): READ_ALL,
    ("room-list", "POST"): CONFIG_WRITE,
    ("room-detail", "GET"): READ_ALL,
    ("room-detail", "PUT"): CONFIG_WRITE,
    ("room-detail", "PATCH"): CONFIG_WRITE,
    ("room-detail", "DELETE"): CONFIG_WRITE,
    # providers: configuration and credentials
    ("discipline-list", "GET"): READ_ALL,
    ("discipline-list", "POST"): CONFIG_WRITE,
    ("discipline-detail", "GET"): READ_ALL,
    ("discipline-detail", "PUT"): CONFIG_WRITE,
    ("discipline-detail", "PATCH"): CONFIG_WRITE,
    ("act-list", "GET"): READ_ALL,
    ("act-list", "POST"): CONFIG_WRITE,
    ("act-detail", "GET"): READ_ALL,
    ("act-detail", "PUT"): CONFIG_WRITE,
    ("act-detail", "PATCH"): CONFIG_WRITE,
    ("scope-rule-list", "GET"): READ_ALL,
    ("scope-rule-list", "POST"): CONFIG_WRITE,
    ("scope-rule-detail", "GET"): READ_ALL,
    ("scope-rule-detail", "PUT"): CONFIG_WRITE,
    ("scope-rule-detail", "PATCH"): CONFIG_WRITE,
    ("scope-rule-detail", "DELETE"): CONFIG_WRITE,
    ("scope-rule-change-list", "GET"): READ_ALL,
    ("scope-rule-change-detail", "GET"): MISSING_OBJECT_READ,
    ("credential-requirement-list", "GET"): READ_ALL,
    ("credential-requirement-detail", "GET"): READ_ALL,
    ("credential-list", "GET"): READ_ALL,
    ("credential-list", "POST"): CONFIG_WRITE,
    ("credential-detail", "GET"): READ_ALL,
    ("credential-detail", "PUT"): CONFIG_WRITE,
    ("credential-detail", "PATCH"): CONFIG_WRITE,
    ("credential-detail", "DELETE"): CONFIG_WRITE,
    ("provider-list", "GET"): READ_ALL,
    ("provider-list", "POST"): CONFIG_WRITE,
    ("provider-detail", "GET"): READ_ALL,
    ("provider-detail", "PUT"): CONFIG_WRITE,
    ("provider-detail", "PATCH"): CONFIG_WRITE,
    ("provider-scope", "GET"): READ_ALL,
    # patients: front desk sees contact details, clinicians only their patients
    ("patient-list", "GET"): READ_ALL,
    ("patient-list", "POST"): (401, 201, 403, 403, 201),
    ("patient-detail", "GET"): (401, 200, 200, 404, 200),
    ("patient-detail", "PUT"): (401, 200, 403, 403, 200),
    ("patient-detail", "PATCH"): (401, 200, 403, 403, 200),
    ("patient-consents", "GET"): (401, 200, 200, 404, 200),
    ("patient-consents", "POST"): (401, 201, 403, 403, 201),
    ("referral-list", "GET"): (401, 403, 200, 200, 200),
    ("referral-list", "POST"): (401, 403, 201, 400, 201),
    ("referral-detail", "GET"): (401, 403, 200, 404, 200),
    ("referral-status", "POST"): (401, 403, 200, 404, 200),
    # clinical access that care does not explain: managers' grants, "break the glass"
    ("accessgrant-list", "GET"): (401, 403, 403, 403, 200),
    ("accessgrant-list", "POST"): (401, 403, 403, 403, 201),
    ("accessgrant-detail", "GET"): (401, 403, 403, 403, 200),
    ("accessgrant-revoke", "POST"): (401, 403, 403, 403, 200),
    ("emergencyaccess-list", "GET"): (401, 403, 200, 200, 200),
    # the own clinician already has access (422); managers see all and need no glass
    ("emergencyaccess-list", "POST"): (401, 403, 422, 201, 403),
    ("emergencyaccess-detail", "GET"): (401, 403, 404, 200, 200),
    ("auditevent-list", "GET"): (401, 403, 403, 403, 200),
    ("auditevent-detail", "GET"): (401, 403, 403, 403, 200),
    # scheduling: configuration
    ("service-list", "GET"): READ_ALL,
    ("service-list", "POST"): CONFIG_WRITE,
    ("service-detail", "GET"): READ_ALL,
    ("service-detail", "PUT"): CONFIG_WRITE,
    ("service-detail", "PATCH"): CONFIG_WRITE,
    ("service-detail", "DELETE"): CONFIG_WRITE,
    ("offering-list", "GET"): READ_ALL,
    ("offering-list", "POST"): CONFIG_WRITE,
    ("offering-detail", "GET"): READ_ALL,
    ("offering-detail", "DELETE"): CONFIG_WRITE,
    ("availability-list", "GET"): READ_ALL,
    ("availability-list", "POST"): CONFIG_WRITE,
    ("availability-detail", "GET"): READ_ALL,
    ("availability-detail", "PUT"): CONFIG_WRITE,
    ("availability-detail", "PATCH"): CONFIG_WRITE,
    ("availability-detail", "DELETE"): CONFIG_WRITE,
    ("availability-exception-list", "GET"): READ_ALL,
    ("availability-exception-list", "POST"): CONFIG_WRITE,
    ("availability-exception-detail", "GET"): MISSING_OBJECT_READ,
    ("availability-exception-detail", "PUT"): MISSING_OBJECT_WRITE,
    ("availability-exception-detail", "PATCH"): MISSING_OBJECT_WRITE,
    ("availability-exception-detail", "DELETE"): MISSING_OBJECT_WRITE,
    ("closure-list", "GET"): READ_ALL,
    ("closure-list", "POST"): CONFIG_WRITE,
    ("closure-detail", "GET"): READ_ALL,
    ("closure-detail", "PUT"): CONFIG_WRITE,
    ("closure-detail", "PATCH"): CONFIG_WRITE,
    ("closure-detail", "DELETE"): CONFIG_WRITE,
    ("booking-policy-list", "GET"): READ_ALL,
    ("booking-policy-list", "POST"): CONFIG_WRITE,
    ("booking-policy-detail", "GET"): MISSING_OBJECT_READ,
    ("booking-policy-detail", "PUT"): MISSING_OBJECT_WRITE,
    ("booking-policy-detail", "PATCH"): MISSING_OBJECT_WRITE,
    ("booking-policy-detail", "DELETE"): MISSING_OBJECT_WRITE,
    # scheduling: appointments (front desk all, clinicians their own schedule) and call-backs
    ("appointment-list", "GET"): READ_ALL,
    ("appointment-list", "POST"): (401, ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    ("appointment-slots", "GET"): (401, ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    # recurring series: any staff role previews and books (a clinician on their own calendar,
    # the booking rule's check); changes follow the series' visits (clinicians their own)
    ("appointment-series", "POST"): (401, ALLOWED, ALLOWED, ALLOWED, ALLOWED),
    ("appointment-series-cancel", "POST"): SCHEDULE_WRITE,
    ("appointment-series-move", "POST"): SCHEDULE_WRITE,
    # the calendar: every staff role; a clinician gets their own column (tests/scheduling)
    ("schedule", "GET"): READ_ALL,
    ("appointment-detail", "GET"): SCHEDULE_READ,
    ("appointment-history", "GET"): SCHEDULE_READ,
    ("appointment-confirm", "POST"): SCHEDULE_WRITE,
    ("appointment-arrive", "POST"): SCHEDULE_WRITE,
    ("appointment-complete", "POST"): SCHEDULE_WRITE,
    ("appointment-no-show", "POST"): SCHEDULE_WRITE,
    ("appointment-cancel", "POST"): SCHEDULE_WRITE,
    ("appointment-reschedule", "POST"): SCHEDULE_WRITE,
    ("appointment-outcome", "POST"): (401, 403, ALLOWED, 404, ALLOWED),
    ("callback-request-list", "GET"): (401, 200, 403, 403, 200),
    ("callback-request-detail", "GET"): (401, 200, 403, 403, 200),
    ("callback-request-detail", "PUT"): (401, ALLOWED, 403, 403, ALLOWED),
    ("callback-request-detail", "PATCH"): (401, ALLOWED, 403, 403, ALLOWED),
    # The waitlist is the front desk's (names and wishes, no clinical content); clinicians none.
    ("waitlist-list", "GET"): (401, 200, 403, 403, 200),
    ("waitlist-list", "POST"): (401, ALLOWED, 403, 403, ALLOWED),
    ("waitlist-detail", "GET"): (401, 200, 403, 403, 200),
    ("waitlist-offer", "POST"): (401, ALLOWED, 403, 403, ALLOWED),
    ("waitlist-withdraw", "POST"): (401, ALLOWED, 403, 403, ALLOWED),
    # plans: clinical; front desk never, clinicians only their patients' plans
    ("care-plan-list", "GET"): (401, 403, 200, 200, 200),
    ("care-plan-list", "POST"): (401, 403, ALLOWED, ALLOWED, ALLOWED),
    ("care-plan-detail", "GET"): CLINICAL_READ,
    ("care-plan-history", "GET"): CLINICAL_READ,
    ("care-plan-discharge-criteria", "GET"): CLINICAL_READ,
    ("care-plan-program", "GET"): CLINICAL_READ,
    ("care-plan-diagnoses", "POST"): CLINICAL_WRITE,
    ("care-plan-precautions", "POST"): CLINICAL_WRITE,
    ("care-plan-lift-precaution", "POST"): (401, 403, 400, 404, 400),
    ("care-plan-goals", "POST"): CLINICAL_WRITE,
    ("care-plan-interventions", "POST"): CLINICAL_WRITE,
    ("care-plan-remove-intervention", "POST"): CLINICAL_PART_MISSING,
    ("care-plan-frequency", "POST"): CLINICAL_WRITE,
    ("care-plan-prescriptions", "POST"): CLINICAL_WRITE,
    ("care-plan-change-prescription", "POST"): CLINICAL_PART_MISSING,
    ("care-plan-stop-prescription", "POST"): CLINICAL_PART_MISSING,
    ("care-plan-measures", "POST"): CLINICAL_WRITE,
    # a manager who is not a provider may not author clinical content
    ("care-plan-start-rehabilitation", "POST"): (401, 403, ALLOWED, 404, 403),
    ("care-plan-move-to-maintenance", "POST"): CLINICAL_WRITE,
    ("care-plan-refer-back", "POST"): CLINICAL_WRITE,
    ("care-plan-close", "POST"): CLINICAL_WRITE,
    # visit notes: the appointment's provider writes; care team and managers read; never front desk
    ("visit-note-list", "GET"): (401, 403, 200, 200, 200),
    ("visit-note-list", "POST"): (401, 403, 201, 403, 403),
    ("visit-note-detail", "GET"): CLINICAL_READ,
    ("visit-note-detail", "PATCH"): (401, 403, 200, 404, 403),
    ("visit-note-sign", "POST"): (401, 403, 200, 404, 403),
    ("visit-note-addenda", "POST"): (401, 403, 409, 404, 403),
    ("visit-note-chart", "GET"): (401, 403, 400, 400, 400),  # without ?patient=
    ("exercise-list", "GET"): READ_ALL,
    ("exercise-list", "POST"): (401, 403, ALLOWED, ALLOWED, ALLOWED),
    ("exercise-detail", "GET"): READ_ALL,
    ("exercise-detail", "PUT"): (401, 403, ALLOWED, ALLOWED, ALLOWED),
    ("exercise-detail", "PATCH"): (401, 403, ALLOWED, ALLOWED, ALLOWED),
    # notifications: the e-mail ledger, each row shown to whom its subject is shown (the row is
    # the own clinician's appointment e-mail); retry by managers. Which rows each role lists,
    # and the admin's pages, are in LEDGER_ROWS_SEEN below.
    ("notification-list", "GET"): READ_ALL,
    ("notification-detail", "GET"): SCHEDULE_READ,
    ("notification-retry", "POST"): (401, 403, 403, 403, 200),
    # calendar feeds: the provider themselves and managers see and rotate the secret link
    ("provider-calendar-feed", "GET"): (401, 403, 200, 403, 200),
    ("provider-calendar-feed-rotate", "POST"): (401, 403, 200, 403, 200),
    # the feed itself: the token is the only credential (any caller with it; see the test below)
    ("calendar-feed", "GET"): (200, 200, 200, 200, 200),
    # FHIR R4: the staff API's rules; front desk never gets care plans
    ("fhir-metadata", "GET"): READ_ALL,
    ("fhir-practitioner-search", "GET"): READ_ALL,
    ("fhir-practitioner-read", "GET"): READ_ALL,
    ("fhir-practitionerrole-search", "GET"): READ_ALL,
    ("fhir-practitionerrole-read", "GET"): READ_ALL,
    ("fhir-location-search", "GET"): READ_ALL,
    ("fhir-location-read", "GET"): READ_ALL,
    ("fhir-healthcareservice-search", "GET"): READ_ALL,
    ("fhir-healthcareservice-read", "GET"): READ_ALL,
    ("fhir-schedule-search", "GET"): READ_ALL,
    ("fhir-schedule-read", "GET"): READ_ALL,
    # a Slot search needs ``schedule`` and ``service-type`` (400 OperationOutcome without)
    ("fhir-slot-search", "GET"): (401, 400, 400, 400, 400),
    ("fhir-slot-read", "GET"): READ_ALL,
    ("fhir-appointment-search", "GET"): READ_ALL,
    ("fhir-appointment-read", "GET"): SCHEDULE_READ,
    ("fhir-patient-search", "GET"): READ_ALL,
    ("fhir-patient-read", "GET"): (401, 200, 200, 404, 200),
    ("fhir-careplan-search", "GET"): (401, 403, 200, 200, 200),
    ("fhir-careplan-read", "GET"): CLINICAL_READ,
}


@dataclass
class World:
    """One patient treated by ``own_provider`` (a physiotherapist), with a referral from them
    to exercise therapy; ``other_provider`` (a massage therapist) has nothing to do with them."""

    users: dict[str, Any]
    patient: Patient
    own_provider: Any
    other_provider: Any
    referral: Referral
    audit_event: AuditEvent
    room: Room


OBJECTS: dict[str, Callable[[World], Any]] = {
    "location": lambda w: w.room.location,
    "room": lambda w: w.room,
    "discipline": lambda w: Discipline.objects.get(code="physiotherapist"),
    "act": lambda w: Act.objects.get(code="manual_therapy"),
    "scope-rule": lambda w: ScopeRule.objects.order_by("pk").first(),
    "credential-requirement": lambda w: CredentialRequirement.objects.order_by("pk").first(),
    "credential": lambda w: w.own_provider.credentials.first(),
    "provider": lambda w: w.own_provider,
    "patient": lambda w: w.patient,
    "referral": lambda w: w.referral,
    "auditevent": lambda w: w.audit_event,
    "accessgrant": lambda w: AccessGrant.objects.filter(provider=w.own_provider).first(),
    # Another patient's record, so the other clinician may still break the glass for w.patient.
    "emergencyaccess": lambda w: break_the_glass(
        patient=PatientFactory(), actor=w.users["other_clinician"], reason="Collapsed in reception"
    ),
    "service": lambda w: ServiceFactory(),
    "offering": lambda w: OfferingFactory(
        provider=w.own_provider, location=w.room.location, service=ServiceFactory()
    ),
    "availability": lambda w: weekly_hours(w.own_provider, w.room.location, weekdays=(0,))[0],
    "closure": lambda w: ClosureFactory(
        location=w.room.location,
        start_date=datetime.date(2026, 12, 25),
        end_date=datetime.date(2026, 12, 26),
    ),
    "callback-request": lambda w: CallbackRequest.objects.create(
        name="Call Me", phone="+1 905 555 0188"
    ),
    "waitlist": lambda w: _waitlist_entry(w),
    "care-plan": lambda w: CarePlanFactory(
        patient=w.patient, lead=w.own_provider, location=w.room.location
    ),
    "exercise": lambda w: ExerciseFactory(),
    "appointment": lambda w: _appointment(w),
    "appointment-series": lambda w: _series(w),
    "notification": lambda w: _ledger_rows(w)["own_appointment"],
    "visit-note": lambda w: _visit_note(w),
    "calendar-feed": lambda w: SimpleNamespace(token=calendar_feed.rotate(w.own_provider)),
    "fhir-practitioner": lambda w: SimpleNamespace(ident=w.own_provider.pk),
    "fhir-practitionerrole": lambda w: SimpleNamespace(ident=w.own_provider.pk),
    "fhir-location": lambda w: SimpleNamespace(ident=w.room.location.pk),
    "fhir-healthcareservice": lambda w: SimpleNamespace(ident=ServiceFactory().pk),
    "fhir-schedule": lambda w: SimpleNamespace(ident=_schedule_id(w)),
    "fhir-slot": lambda w: SimpleNamespace(ident=_free_slot_id(w)),
    "fhir-appointment": lambda w: SimpleNamespace(ident=_appointment(w).pk),
    "fhir-patient": lambda w: SimpleNamespace(ident=w.patient.pk),
    "fhir-careplan": lambda w: SimpleNamespace(
        ident=CarePlanFactory(patient=w.patient, lead=w.own_provider, location=w.room.location).pk
    ),
}


def _schedule_id(w: "World") -> str:
    offer(w.own_provider, ServiceFactory(acts=["manual_therapy"]), w.room.location)
    return f"{w.own_provider.pk}-{w.room.location.pk}"


def _free_slot_id(w: "World") -> str:
    """A start time the own clinician really has free next week, as a FHIR Slot id."""
    location = w.room.location
    service = ServiceFactory(acts=["manual_therapy"])
    offer(w.own_provider, service, location)
    weekly_hours(w.own_provider, location, start="08:00", end="18:00")
    day = _next_week_at(9).date()
    slot = public_slots(
        service=service, location=location, start_date=day, end_date=day, provider=w.own_provider
    )[0]
    return f"{w.own_provider.pk}-{location.pk}-{service.pk}-{int(slot.start.timestamp())}"


def _next_week_at(hour: int) -> datetime.datetime:
    zone = zoneinfo.ZoneInfo("America/Toronto")
    day = datetime.datetime.now(zone).date() + datetime.timedelta(days=7)
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=zone)


def _appointment(w: "World"):
    """The patient's appointment with their own clinician, booked as the product books."""
    location = w.room.location
    service = ServiceFactory(acts=["manual_therapy"])
    offer(w.own_provider, service, location)
    weekly_hours(w.own_provider, location, start="08:00", end="18:00")
    return book_appointment(
        service=service,
        location=location,
        start=_next_week_at(10),
        patient=w.patient,
        provider=w.own_provider,
        reason="Stiff neck",
    )


def _series(w: "World"):
    """A two-visit series of the patient with their own clinician, booked as the product does."""
    location = w.room.location
    service = ServiceFactory(acts=["manual_therapy"])
    offer(w.own_provider, service, location)
    weekly_hours(w.own_provider, location, start="08:00", end="18:00")
    start = _next_week_at(11)
    return book_series(
        service=service,
        location=location,
        provider=w.own_provider,
        patient=w.patient,
        start=start,
        rule=SeriesRule(by_weekday=(WEEKDAY_CODES[start.weekday()],), count=2),
    ).series


def _ledger_rows(w: "World") -> dict[str, Notification]:
    """Failed ledger rows (so a manager may retry them): the e-mail about the patient's
    appointment with their own clinician, one about the other clinician's appointment with
    someone else, and the patient's exercise program e-mail (a clinical kind)."""
    own = _appointment(w)
    other_start = own.start + datetime.timedelta(hours=2)
    other = Appointment.objects.create(
        patient=PatientFactory(),
        provider=w.other_provider,
        service=own.service,
        location=own.location,
        start=other_start,
        end=other_start + datetime.timedelta(minutes=30),
        blocked_start=other_start,
        blocked_end=other_start + datetime.timedelta(minutes=30),
        slot_key=f"matrix-{other_start.isoformat()}",
    )
    plan = CarePlanFactory(patient=w.patient, lead=w.own_provider, location=w.room.location)
    version = ProgramVersion.objects.create(plan=plan, number=1, content={"exercises": []})
    # The booking planned its own e-mails in its transaction; the matrix judges these three.
    Notification.objects.all().delete()
    rows = {
        "own_appointment": ledger.plan(own, CONFIRMATION, own.start, own.patient.email),
        "other_appointment": ledger.plan(other, CONFIRMATION, other.start, other.patient.email),
        "program": ledger.plan(version, PROGRAM_EMAIL, version.created_at, w.patient.email),
    }
    Notification.objects.filter(pk__in=[r.pk for r in rows.values()]).update(
        status=Notification.Status.FAILED, last_error="554 for the test"
    )
    return rows


def _visit_note(w: "World"):
    """The draft note of the patient's appointment, started by its provider."""
    return start_note(
        _appointment(w),
        user=w.users["own_clinician"],
        content={"subjective": {"complaint": "Stiff neck"}},
    )


def _waitlist_entry(w: World):
    service = ServiceFactory()
    offer(w.own_provider, service, w.room.location)
    day = datetime.date.today() + datetime.timedelta(days=7)
    return join_waitlist(
        patient=w.patient,
        service=service,
        location=w.room.location,
        provider=None,
        earliest_date=day,
        latest_date=day,
        windows=[{"weekday": None, "from": "09:00", "to": "12:00"}],
    )


BODIES: dict[tuple[str, str], Callable[[World], dict]] = {
    ("waitlist-list", "POST"): lambda w: {
        "patient": w.patient.pk,
        "service": _waitlist_entry(w).service_id,
        "location": w.room.location.pk,
        "earliest_date": (datetime.date.today() + datetime.timedelta(days=3)).isoformat(),
        "latest_date": (datetime.date.today() + datetime.timedelta(days=9)).isoformat(),
        "windows": [{"from": "09:00", "to": "12:00"}],
    },
    ("waitlist-offer", "POST"): lambda w: {
        "start": "2030-01-07T10:00:00-05:00",
        "provider": w.own_provider.pk,
    },
    ("visit-note-list", "POST"): lambda w: {
        "appointment": visit(w.own_provider, w.room.location, patient=w.patient).pk
    },
    ("visit-note-detail", "PATCH"): lambda w: {"content": {"subjective": {"pain": 3}}},
    ("visit-note-addenda", "POST"): lambda w: {"text": "Correction."},
    ("patient-list", "POST"): lambda w: {
        "first_name": "Nia",
        "last_name": "New",
        "email": "nia.new@example.org",
    },
    ("patient-detail", "PUT"): lambda w: {
        "first_name": w.patient.first_name,
        "last_name": w.patient.last_name,
        "email": w.patient.email,
        "phone": "+1 905 555 0111",
    },
    ("patient-detail", "PATCH"): lambda w: {"phone": "+1 905 555 0112"},
    ("patient-consents", "POST"): lambda w: {"choices": {"marketing": False}},
    ("referral-list", "POST"): lambda w: {
        "patient": w.patient.pk,
        "from_provider": w.own_provider.pk,
        "to_discipline": "massage_therapist",
        "reason": "Tight upper back; soft-tissue work alongside rehab.",
    },
    ("accessgrant-list", "POST"): lambda w: {
        "patient": w.patient.pk,
        "provider": w.other_provider.pk,
        "reason": "Covers Own Physio's caseload this month.",
    },
    ("emergencyaccess-list", "POST"): lambda w: {
        "patient": w.patient.pk,
        "reason": "Collapsed in reception; needs the precautions now.",
    },
    ("appointment-cancel", "POST"): lambda w: {"reason": "Patient called"},
    ("appointment-reschedule", "POST"): lambda w: {"start": _next_week_at(15).isoformat()},
    ("appointment-outcome", "POST"): lambda w: {"recommended_path": "physiotherapy"},
    ("appointment-series-cancel", "POST"): lambda w: {"reason": "Patient called"},
    ("appointment-series-move", "POST"): lambda w: {"time": "15:00"},
    ("referral-status", "POST"): lambda w: {"status": "declined", "note": "Seen elsewhere."},
}


# --- Discovering the staff endpoints --------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    route: str
    regex: str
    kwargs: tuple[str, ...]


def _walk(patterns, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _methods(pattern: URLPattern) -> list[str]:
    callback = pattern.callback
    actions = getattr(callback, "actions", None)
    if actions:
        return sorted(m.upper() for m in actions)
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return ["GET"]
    return sorted(
        m.upper()
        for m in view_class.http_method_names
        if m not in ("options", "head", "trace") and hasattr(view_class, m)
    )


# The staff API, the FHIR API, and the calendar feeds (opened by their token alone).
STAFF_PREFIXES = ("api/v1/", "fhir/R4/", "calendar/")


def staff_endpoints() -> list[Endpoint]:
    found = []
    for route, pattern in _walk(get_resolver().url_patterns):
        plain = route.replace("^", "").replace("$", "")
        if not plain.startswith(STAFF_PREFIXES) or plain.startswith("api/v1/public/"):
            continue
        if "(?P<format>" in route:
            continue
        kwargs = tuple(re.findall(r"\(\?P<(\w+)>", route)) + tuple(
            re.findall(r"<(?:\w+:)?(\w+)>", route)
        )
        for method in _methods(pattern):
            found.append(Endpoint(pattern.name or route, method, plain, route, kwargs))
    return found


ENDPOINTS = staff_endpoints()


def _basename(name: str) -> str | None:
    candidates = [key for key in OBJECTS if name == key or name.startswith(f"{key}-")]
    return max(candidates, key=len) if candidates else None


def _url(endpoint: Endpoint, world: World) -> str:
    values: dict[str, Any] = {}
    base = _basename(endpoint.name)
    obj = OBJECTS[base](world) if base else None
    for kwarg in endpoint.kwargs:
        values[kwarg] = getattr(obj, kwarg, None) if obj is not None else None
        if values[kwarg] is None:
            values[kwarg] = 987654321
    path = endpoint.route
    for kwarg, value in values.items():
        path = re.sub(rf"\(\?P<{kwarg}>[^)]*\)", str(value), path)
        path = re.sub(rf"<(?:\w+:)?{kwarg}>", str(value), path)
    return "/" + path


# --- The world and the clients --------------------------------------------------------------


@pytest.fixture
def world(db) -> World:
    location = LocationFactory(slug="pickering", name="Pickering")
    room = RoomFactory(location=location)
    own_provider = ProviderFactory(
        display_name="Own Physio", discipline=DisciplineFactory(code="physiotherapist")
    )
    other_provider = ProviderFactory(
        display_name="Other Massage", discipline=DisciplineFactory(code="massage_therapist")
    )
    users = {
        "anonymous": AnonymousUser(),
        "front_desk": staff_user("m-frontdesk", roles.FRONT_DESK),
        "own_clinician": clinician_user("m-own", provider=own_provider),
        "other_clinician": clinician_user("m-other", provider=other_provider),
        "manager": staff_user("m-manager", roles.MANAGER),
    }
    patient = PatientFactory(preferred_location=location)
    grant_consents(patient)
    link_patient(patient, own_provider)
    referral = ReferralFactory(
        patient=patient,
        from_provider=own_provider,
        to_discipline=DisciplineFactory(code="exercise_therapist"),
    )
    record_event(
        actor=users["manager"],
        action=AuditEvent.Action.READ,
        object_type="patients.Patient",
        object_id=patient.pk,
        patient_id=patient.pk,
    )
    return World(
        users=users,
        patient=patient,
        own_provider=own_provider,
        other_provider=other_provider,
        referral=referral,
        audit_event=AuditEvent.objects.order_by("-pk").first(),
        room=room,
    )


def _client(user) -> APIClient:
    return APIClient() if not user.is_authenticated else client_for(user)


def _matches(expected: int | str, actual: int) -> bool:
    if expected == ALLOWED:
        return actual not in (401, 403, 404, 405) and actual < 500
    return actual == expected


# --- Tests ------------------------------------------------------------------------------------


def test_every_staff_endpoint_is_in_the_matrix():
    discovered = {(e.name, e.method) for e in ENDPOINTS}
    missing = sorted(discovered - set(MATRIX))
    stale = sorted(set(MATRIX) - discovered)
    assert not missing, f"Add rows to MATRIX in {__file__} for: {missing}"
    assert not stale, f"MATRIX rows for endpoints that no longer exist: {stale}"


def test_the_matrix_checks_clinical_endpoints_for_every_role():
    """The table itself guards the rule: front desk never gets clinical referrals or the audit
    log, and another clinician never gets this patient's detail."""
    front_desk, other = ROLES.index("front_desk"), ROLES.index("other_clinician")
    for key in [("referral-list", "GET"), ("referral-detail", "GET"), ("auditevent-list", "GET")]:
        assert MATRIX[key][front_desk] == 403
    assert MATRIX[("patient-detail", "GET")][other] == 404
    for key in [("fhir-careplan-search", "GET"), ("fhir-careplan-read", "GET")]:
        assert MATRIX[key][front_desk] == 403
    assert MATRIX[("fhir-patient-read", "GET")][other] == 404


@pytest.mark.parametrize("role", ROLES)
def test_a_calendar_feed_opens_by_its_token_only(role, world):
    """A staff login opens no feed: an unknown or rotated token is 404 for every caller."""
    old = calendar_feed.rotate(world.own_provider)
    calendar_feed.rotate(world.own_provider)
    client = _client(world.users[role])
    for token in (old, "x" * 43):
        assert client.get(f"/calendar/{token}.ics").status_code == 404


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: f"{e.method} {e.name}")
def test_staff_endpoint_answers_each_role_as_the_matrix_says(endpoint, role, world):
    key = (endpoint.name, endpoint.method)
    if key not in MATRIX:
        pytest.skip(f"No MATRIX row for {key}: test_every_staff_endpoint_is_in_the_matrix fails")
    expected = MATRIX[key][ROLES.index(role)]
    body = BODIES.get(key, lambda w: {})(world)
    url = _url(endpoint, world)
    response = _client(world.users[role]).generic(
        endpoint.method,
        url,
        data=None if endpoint.method == "GET" else json.dumps(body),
        content_type="application/json",
    )
    assert _matches(expected, response.status_code), (
        f"{endpoint.method} {url} as {role}: expected {expected}, got "
        f"{response.status_code} {getattr(response, 'data', '')}"
    )


# --- The notification ledger: which rows each role reads, in the API and the admin ------------

# A ledger row tells who is e-mailed about what: each role sees only the rows about subjects it
# may see. Front desk: every appointment e-mail, no clinical kind; a clinician: e-mails about
# their own appointments and the program e-mails of patients they treat; managers: all.
LEDGER_ROWS_SEEN: dict[str, set[str]] = {
    "anonymous": set(),
    "front_desk": {"own_appointment", "other_appointment"},
    "own_clinician": {"own_appointment", "program"},
    "other_clinician": {"other_appointment"},
    "manager": {"own_appointment", "other_appointment", "program"},
}
LEDGER_ADMIN = "/admin/notifications/notification/"


@pytest.mark.parametrize("role", ROLES)
def test_the_ledger_api_lists_and_shows_each_role_only_rows_about_what_it_may_see(role, world):
    rows = _ledger_rows(world)
    client = _client(world.users[role])
    seen = LEDGER_ROWS_SEEN[role]
    listed = client.get("/api/v1/notifications/")
    if role == "anonymous":
        assert listed.status_code == 401
    else:
        ids = {item["id"] for item in listed.json()["results"]}
        assert ids == {rows[name].pk for name in seen}
    for name, row in rows.items():
        expected = 401 if role == "anonymous" else 200 if name in seen else 404
        response = client.get(f"/api/v1/notifications/{row.pk}/")
        assert response.status_code == expected, f"{role} reading the {name} row"


@pytest.mark.parametrize("role", ROLES)
def test_the_ledger_admin_lists_and_opens_for_each_role_only_rows_about_what_it_may_see(
    role, world, client
):
    rows = _ledger_rows(world)
    user = world.users[role]
    if user.is_authenticated:
        client.force_login(user)
    seen = LEDGER_ROWS_SEEN[role]
    changelist = client.get(LEDGER_ADMIN)
    if role == "anonymous":
        assert changelist.status_code == 302
        assert "/login/" in changelist["Location"]
    else:
        assert changelist.status_code == 200
        page = changelist.content.decode()
        listed = {name for name, row in rows.items() if f"{LEDGER_ADMIN}{row.pk}/change/" in page}
        assert listed == seen
    for name, row in rows.items():
        response = client.get(f"{LEDGER_ADMIN}{row.pk}/change/")
        if name in seen:
            assert response.status_code == 200, f"{role} opening the {name} row"
            assert row.recipient in response.content.decode()
        else:  # the admin's answer for a row that does not exist: back to the index (or login)
            assert response.status_code == 302, f"{role} opening the {name} row"
            assert row.recipient not in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_only_managers_retry_failed_ledger_rows_from_the_admin(role, world, client):
    rows = _ledger_rows(world)
    user = world.users[role]
    if user.is_authenticated:
        client.force_login(user)
    response = client.post(
        LEDGER_ADMIN,
        {"action": "retry_now", "_selected_action": [row.pk for row in rows.values()]},
    )
    # The action is not offered to other roles: their POST only shows the list again.
    assert response.status_code == (302 if role in ("anonymous", "manager") else 200)
    statuses = set(
        Notification.objects.filter(pk__in=[r.pk for r in rows.values()]).values_list(
            "status", flat=True
        )
    )
    expected = Notification.Status.PENDING if role == "manager" else Notification.Status.FAILED
    assert statuses == {expected}


# --- Patient choosers: the patient list's rule everywhere a patient is picked ----------------
#
# Every foreign key to Patient on an admin page (its model or an inline's) and every patient
# field of a staff API serializer needs a row here; a new one without a row fails
# ``test_every_patient_chooser_is_in_the_matrix``. "autocomplete": an editable chooser, which
# must be an autocomplete limited to ``visible_patients``; "read-only": shown, never chosen.

ADMIN_PATIENT_CHOOSERS: dict[tuple[str, str], str] = {
    ("scheduling.appointment", "patient"): "autocomplete",
    ("patients.referral", "patient"): "autocomplete",
    ("patients.accessgrant", "patient"): "autocomplete",
    ("patients.emergencyaccess", "patient"): "read-only",
    ("patients.consent", "patient"): "read-only",  # an inline of the patient's own page
    ("plans.careplan", "patient"): "read-only",
    ("plans.visitnote", "patient"): "read-only",  # written from its appointment, never chosen
    ("scheduling.callbackrequest", "patient"): "read-only",
    ("scheduling.waitlistentry", "patient"): "read-only",  # joined by the widget or the API
}
API_PATIENT_CHOOSERS: dict[str, str] = {
    "patients.api.serializers.ReferralSerializer.patient": "visible",
    "patients.api.serializers.AccessGrantSerializer.patient": "visible",
    "scheduling.api.serializers.StaffBookingSerializer.patient": "visible",
    "scheduling.api.series.SeriesPlanSerializer.patient": "visible",
    "scheduling.api.waitlist_serializers.StaffWaitlistCreateSerializer.patient": "visible",
    # Break the glass names a record the clinician cannot see: that is its point (audited).
    "patients.api.serializers.EmergencyAccessSerializer.patient": "break-the-glass",
}


def _admin_patient_fields() -> dict[tuple[str, str], Any]:
    from django.contrib import admin

    found = {}
    for model, model_admin in admin.site._registry.items():
        models = [model, *(inline.model for inline in model_admin.inlines)]
        for each in models:
            for field in each._meta.get_fields():
                if getattr(field, "related_model", None) is Patient and field.concrete:
                    found[(each._meta.label_lower, field.name)] = (model_admin, field)
    return found


def _fields_of(cls) -> dict:
    """A serializer class's fields; one that cannot be built without arguments has none."""
    try:
        return dict(cls().fields)
    except (TypeError, AssertionError, KeyError, AttributeError):
        return {}


def _serializer_modules() -> list:
    """Every module of every ``<app>.api`` package: serializers live in ``serializers`` and
    ``*_serializers`` modules and next to their views (series, visit notes)."""
    import importlib
    import pkgutil

    modules = []
    for app in ("clinic", "providers", "patients", "scheduling", "plans", "notifications"):
        try:
            package = importlib.import_module(f"{app}.api")
        except ModuleNotFoundError:
            continue
        for info in pkgutil.iter_modules(package.__path__):
            modules.append(importlib.import_module(f"{app}.api.{info.name}"))
    return modules


def _api_patient_fields() -> dict[str, Any]:
    from rest_framework import serializers

    found = {}
    for module in _serializer_modules():
        for name, cls in vars(module).items():
            if not (isinstance(cls, type) and issubclass(cls, serializers.BaseSerializer)):
                continue
            if cls.__module__ != module.__name__ or issubclass(cls, serializers.ListSerializer):
                continue
            for field_name, field in _fields_of(cls).items():
                queryset = getattr(field, "queryset", None)
                if not field.read_only and queryset is not None and queryset.model is Patient:
                    found[f"{module.__name__}.{name}.{field_name}"] = field
    return found


def test_every_patient_chooser_is_in_the_matrix():
    admin_found, api_found = set(_admin_patient_fields()), set(_api_patient_fields())
    assert admin_found == set(ADMIN_PATIENT_CHOOSERS), (
        f"Admin patient fields without a row: {sorted(admin_found - set(ADMIN_PATIENT_CHOOSERS))}"
        f"; stale rows: {sorted(set(ADMIN_PATIENT_CHOOSERS) - admin_found)}"
    )
    assert api_found == set(API_PATIENT_CHOOSERS), (
        f"API patient fields without a row: {sorted(api_found - set(API_PATIENT_CHOOSERS))}"
        f"; stale rows: {sorted(set(API_PATIENT_CHOOSERS) - api_found)}"
    )


def test_every_admin_patient_chooser_offers_a_clinician_only_their_patient_list(world):
    from django.test import RequestFactory

    from patients.api.fields import VisiblePatientField

    stranger = PatientFactory(first_name="Stranger")
    for (label, name), (model_admin, field) in _admin_patient_fields().items():
        kind = ADMIN_PATIENT_CHOOSERS[(label, name)]
        if kind == "read-only":
            request = RequestFactory().get("/admin/")
            request.user = world.users["manager"]
            if field.model is model_admin.model:
                shown = set(model_admin.get_readonly_fields(request, obj=object()))
                assert name in shown or name not in model_admin.get_fields(request), label
            continue
        assert name in model_admin.autocomplete_fields, f"{label}.{name}: use autocomplete"
        for role, sees in (("own_clinician", True), ("other_clinician", False)):
            request = RequestFactory().get("/admin/")
            request.user = world.users[role]
            offered = model_admin.formfield_for_foreignkey(field, request).queryset
            assert offered.filter(pk=world.patient.pk).exists() is sees, (label, role)
            assert not offered.filter(pk=stranger.pk).exists(), (label, role)
    for path, field in _api_patient_fields().items():
        if API_PATIENT_CHOOSERS[path] == "visible":
            assert isinstance(field, VisiblePatientField), path


@pytest.mark.parametrize(
    "source", [k for k, v in ADMIN_PATIENT_CHOOSERS.items() if v != "read-only"]
)
def test_admin_patient_autocomplete_suggests_only_the_patient_list(source, world, client):
    label, field = source
    app_label, model_name = label.split(".")
    url = (
        f"/admin/autocomplete/?app_label={app_label}&model_name={model_name}"
        f"&field_name={field}&term={world.patient.last_name}"
    )
    for role, sees in (("own_clinician", True), ("other_clinician", False)):
        client.force_login(world.users[role])
        response = client.get(url)
        if role == "other_clinician" and response.status_code == 403:
            continue  # no access to the page that holds the chooser at all
        assert response.status_code == 200, (source, role, response.status_code)
        ids = {int(row["id"]) for row in response.json()["results"]}
        assert (world.patient.pk in ids) is sees, (source, role)


def test_a_clinician_cannot_book_a_patient_outside_their_patient_list(world):
    """The staff booking's patient field answers an unseen patient like an unknown one."""
    stranger = PatientFactory()
    response = _client(world.users["own_clinician"]).post(
        "/api/v1/appointments/",
        {
            "patient": stranger.pk,
            "service": 1,
            "location": world.room.location.pk,
            "start": _next_week_at(10).isoformat(),
        },
        format="json",
    )
    assert response.status_code == 400
    assert any(e["field"] == "patient" for e in response.json()["errors"])
