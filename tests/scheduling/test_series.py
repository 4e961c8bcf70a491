"""Recurring visits (DOMAIN.md 11): a series is planned in the location's wall-clock time, each
visit judged by the booking rule's owners (hours, closures, credentials, the patient), booked
all-or-none or only the free ones, and changed from one visit on."""

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from clinic import roles, rules_cache
from clinic.errors import ConflictProblem, DomainError
from notifications.models import Notification
from plans.models import CarePlan
from scheduling.models import Appointment, AppointmentEvent
from scheduling.series_models import MAX_SERIES_VISITS, Series
from scheduling.services import (
    SeriesRule,
    book_appointment,
    book_series,
    cancel_series,
    move_series,
    preview_series,
)
from tests.conftest import client_for, make_staff_user
from tests.factories.clinic import LocationFactory
from tests.factories.patients import PatientFactory, clinician_user, link_patient
from tests.factories.plans import CarePlanFactory
from tests.factories.providers import ProviderFactory
from tests.factories.scheduling import (
    AvailabilityExceptionFactory,
    ClosureFactory,
    offer,
    weekly_hours,
)

pytestmark = pytest.mark.django_db

TORONTO = ZoneInfo("America/Toronto")
NEW_YORK = ZoneInfo("America/New_York")
PROBLEM = "https://clinic-backend.dev/problems/"


def at(day: datetime.date, hh_mm: str, zone=TORONTO) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.fromisoformat(hh_mm), tzinfo=zone)


def series_args(service, location, provider, patient, start, **rule) -> dict:
    rule.setdefault("by_weekday", ("MO", "TH"))
    return {
        "service": service,
        "location": location,
        "provider": provider,
        "patient": patient,
        "start": start,
        "rule": SeriesRule(**{**rule, "by_weekday": tuple(rule["by_weekday"])}),
    }


@pytest.fixture
def patient(db):
    return PatientFactory()


# --- Daylight-saving time -----------------------------------------------------------------------


def test_a_0900_series_stays_at_0900_across_the_spring_change_in_toronto(
    location, assessment, physio, patient
):
    # Sunday 2027-03-07 (EST) .. Sunday 2027-03-14 is the change day itself .. 2027-03-21 (EDT)
    start = at(datetime.date(2027, 3, 7), "09:00")
    plan = preview_series(
        **series_args(assessment, location, physio, patient, start, by_weekday=["SU"], count=3)
    )
    local = [v.start.astimezone(TORONTO) for v in plan.visits]
    assert [(t.date().isoformat(), t.strftime("%H:%M %Z")) for t in local] == [
        ("2027-03-07", "09:00 EST"),
        ("2027-03-14", "09:00 EDT"),
        ("2027-03-21", "09:00 EDT"),
    ]
    assert [v.start.hour for v in plan.visits] == [14, 13, 13], "UTC moves, the wall clock not"
    assert all(v.free for v in plan.visits)
    booked = book_series(
        **series_args(assessment, location, physio, patient, start, by_weekday=["SU"], count=3)
    )
    assert [a.local_start.strftime("%H:%M") for a in booked.appointments] == ["09:00"] * 3


def test_a_series_keeps_its_local_time_across_the_autumn_change_in_new_york(assessment, patient):
    new_york = LocationFactory(
        slug="manhattan", name="Manhattan", timezone="America/New_York", jurisdiction="US-NY"
    )
    provider = ProviderFactory(display_name="NY Physio", locations=[new_york])
    offer(provider, assessment, new_york)
    weekly_hours(provider, new_york)
    start = at(datetime.date(2027, 11, 1), "09:00", NEW_YORK)  # Monday; DST ends Sunday 11-07
    booked = book_series(
        **series_args(
            assessment, new_york, provider, patient, start, by_weekday=["MO", "WE"], count=4
        )
    )
    local = [a.start.astimezone(NEW_YORK) for a in booked.appointments]
    assert [t.strftime("%Y-%m-%d %H:%M %Z") for t in local] == [
        "2027-11-01 09:00 EDT",
        "2027-11-03 09:00 EDT",
        "2027-11-08 09:00 EST",
        "2027-11-10 09:00 EST",
    ]
    assert [a.start.hour for a in booked.appointments] == [13, 13, 14, 14]


def test_an_end_date_series_counts_the_autumn_change_day_in_toronto(
    location, assessment, physio, patient
):
    start = at(datetime.date(2027, 10, 31), "10:30")  # Sunday; 2027-11-07 is the change day
    plan = preview_series(
        **series_args(
            assessment,
            location,
            physio,
            patient,
            start,
            by_weekday=["SU"],
            until=datetime.date(2027, 11, 14),
        )
    )
    assert [v.start.astimezone(TORONTO).strftime("%m-%d %H:%M") for v in plan.visits] == [
        "10-31 10:30",
        "11-07 10:30",
        "11-14 10:30",
    ]


# --- Conflicts, each with its owner's reason ----------------------------------------------------


def test_a_licence_ending_mid_series_refuses_only_the_visits_after_it(
    location, assessment, patient
):
    provider = ProviderFactory(
        display_name="Expiring Physio",
        locations=[location],
        credentials__valid_until=datetime.date(2027, 5, 19),
    )
    offer(provider, assessment, location)
    weekly_hours(provider, location)
    start = at(datetime.date(2027, 5, 3), "10:00")  # Mondays 05-03 .. 05-31
    args = series_args(assessment, location, provider, patient, start, by_weekday=["MO"], count=5)
    plan = preview_series(**args)
    codes = [(v.start.astimezone(TORONTO).date().isoformat(), v.conflict) for v in plan.visits]
    assert [c.code if c else None for _, c in codes] == [
        None,
        None,
        None,
        "credential_expired",
        "credential_expired",
    ]

    with pytest.raises(ConflictProblem) as refused:
        book_series(**args, on_conflict="refuse")
    assert refused.value.status == 409
    assert refused.value.slug == "series-conflict"
    assert [e.field for e in refused.value.errors] == ["visits[3]", "visits[4]"]
    assert not Appointment.objects.exists(), "refuse books none"
    assert not Series.objects.exists()

    booked = book_series(**args, on_conflict="skip")
    assert [a.local_start.date().isoformat() for a in booked.appointments] == [
        "2027-05-03",
        "2027-05-10",
        "2027-05-17",
    ]
    assert [v.conflict.code for v in booked.skipped] == ["credential_expired"] * 2
    assert {a.series_id for a in booked.appointments} == {booked.series.pk}


def test_a_closure_day_inside_the_series_is_a_conflict_with_no_alternative(
    location, assessment, physio, patient
):
    ClosureFactory(
        location=location,
        start_date=datetime.date(2027, 6, 10),
        end_date=datetime.date(2027, 6, 10),
        reason="Staff training",
    )
    start = at(datetime.date(2027, 6, 3), "10:00")  # Thursdays
    plan = preview_series(
        **series_args(assessment, location, physio, patient, start, by_weekday=["TH"], count=3)
    )
    assert [v.conflict.code if v.conflict else None for v in plan.visits] == [None, "closed", None]
    assert plan.visits[1].alternative is None
    booked = book_series(
        **series_args(assessment, location, physio, patient, start, by_weekday=["TH"], count=3),
        on_conflict="skip",
    )
    assert len(booked.appointments) == 2
    assert booked.skipped[0].index == 1


def test_provider_busy_outside_hours_and_patient_busy_are_named_with_a_same_day_alternative(
    location, assessment, physio, patient
):
    monday = datetime.date(2027, 9, 6)
    colleague = ProviderFactory(display_name="Colleague", locations=[location])
    offer(colleague, assessment, location)
    weekly_hours(colleague, location)
    book_appointment(  # someone else holds the second Monday at 10:00
        service=assessment,
        location=location,
        start=at(monday + datetime.timedelta(days=7), "10:00"),
        patient=PatientFactory(),
        provider=physio,
    )
    book_appointment(  # the patient is elsewhere on the third Monday at 10:00
        service=assessment,
        location=location,
        start=at(monday + datetime.timedelta(days=14), "10:00"),
        patient=patient,
        provider=colleague,
    )
    plan = preview_series(
        **series_args(
            assessment, location, physio, patient, at(monday, "10:00"), by_weekday=["MO"], count=3
        )
    )
    assert [v.conflict.code if v.conflict else None for v in plan.visits] == [
        None,
        "provider_busy",
        "patient_busy",
    ]
    second = plan.visits[1]
    assert second.alternative is not None
    assert second.alternative.astimezone(TORONTO).date() == monday + datetime.timedelta(days=7)
    assert second.alternative.astimezone(TORONTO).strftime("%H:%M") in {"09:00", "11:00"}

    late = preview_series(
        **series_args(
            assessment, location, physio, patient, at(monday, "16:30"), by_weekday=["MO"], count=1
        )
    )
    assert late.visits[0].conflict.code == "outside_hours"
    assert late.visits[0].alternative.astimezone(TORONTO).strftime("%H:%M") == "16:00"


def test_the_preview_reads_the_calendar_once_whatever_the_number_of_visits(
    location, assessment, physio, patient
):
    start = at(datetime.date(2027, 1, 4), "10:00")
    counts = []
    for count in (2, 2, 24):  # the first call also reads the clinic's settings once
        args = series_args(
            assessment, location, physio, patient, start, by_weekday=["MO", "TH"], count=count
        )
        rules_cache.clear()  # the cold count: the rules read from the database every time
        with CaptureQueriesContext(connection) as queries:
            preview_series(**args)
        counts.append(len(queries))
    assert counts[1] == counts[2], counts


# --- Booking: one transaction, ordinary appointments, one confirmation ----------------------------


def test_each_visit_is_an_ordinary_appointment_with_history_and_reminders_but_no_own_confirmation(
    location, assessment, physio, patient, django_capture_on_commit_callbacks
):
    start = at(datetime.date(2027, 2, 1), "11:00")
    with django_capture_on_commit_callbacks(execute=True):
        booked = book_series(
            **series_args(assessment, location, physio, patient, start, count=4), reason="Knee"
        )
    ids = [a.pk for a in booked.appointments]
    assert AppointmentEvent.objects.filter(appointment_id__in=ids, kind="booked").count() == 4
    kinds = list(Notification.objects.values_list("subject_type", "kind"))
    assert ("scheduling.series", "series.confirmation") in kinds
    assert kinds.count(("scheduling.series", "series.confirmation")) == 1
    assert ("scheduling.appointment", "appointment.confirmation") not in kinds
    assert kinds.count(("scheduling.appointment", "appointment.reminder")) == 8


def test_cancelling_this_and_the_following_visits_cancels_only_those(
    location, assessment, physio, patient, django_capture_on_commit_callbacks
):
    start = at(datetime.date(2027, 2, 1), "11:00")
    booked = book_series(**series_args(assessment, location, physio, patient, start, count=6))
    third_day = booked.appointments[2].local_start.date()
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = cancel_series(booked.series, reason="Moving away", on=third_day)
    assert [a.pk for a in cancelled] == [a.pk for a in booked.appointments[2:]]
    statuses = list(Appointment.objects.order_by("start").values_list("status", flat=True))
    assert statuses == ["booked"] * 2 + ["cancelled"] * 4
    rows = Notification.objects.filter(kind="series.cancellation")
    assert [r.context["appointments"] for r in rows] == [[a.pk for a in cancelled]]
    assert not Notification.objects.filter(kind="appointment.cancellation").exists()
    assert not Notification.objects.filter(
        kind="appointment.reminder", subject_id__in=[a.pk for a in cancelled], status="pending"
    ).exists()


def test_moving_all_visits_keeps_their_identity_and_day(location, assessment, physio, patient):
    start = at(datetime.date(2027, 2, 1), "11:00")
    booked = book_series(**series_args(assessment, location, physio, patient, start, count=4))
    moved = move_series(booked.series, at=datetime.time(14, 30))
    assert [a.reference for a in moved] == [a.reference for a in booked.appointments]
    assert [a.local_start.strftime("%a %H:%M") for a in moved] == [
        "Mon 14:30",
        "Thu 14:30",
        "Mon 14:30",
        "Thu 14:30",
    ]
    with pytest.raises(DomainError, match=r"cannot move.*Nothing was moved"):
        move_series(booked.series, at=datetime.time(22, 0))  # after hours: all or none
    assert [a.local_start.strftime("%H:%M") for a in Appointment.objects.order_by("start")] == [
        "14:30"
    ] * 4
    one_day = moved[1].local_start.date()
    [only] = move_series(booked.series, at=datetime.time(9, 0), on=one_day, scope="this")
    assert only.pk == moved[1].pk
    assert only.local_start.strftime("%H:%M") == "09:00"


# --- The API: validation, roles, privacy ---------------------------------------------------------


def body(service, location, provider, patient, start, **overrides) -> dict:
    data = {
        "service": service.pk,
        "location": location.pk,
        "provider": provider.pk,
        "patient": patient.pk,
        "start": start.isoformat(),
        "rule": {"freq": "weekly", "by_weekday": ["MO", "TH"], "count": 4},
        "preview": True,
        "on_conflict": "refuse",
    }
    data.update(overrides)
    return data


def post(client, data):
    return client.post("/api/v1/appointments/series/", data, format="json")


def test_the_preview_answers_every_visit_and_booking_returns_201(
    front_desk_client, location, assessment, physio, patient
):
    start = at(datetime.date(2027, 2, 1), "11:00")
    preview = post(front_desk_client, body(assessment, location, physio, patient, start))
    assert preview.status_code == 200, preview.content
    data = preview.json()
    assert data["rule"]["rrule"] == "FREQ=WEEKLY;BYDAY=MO,TH;COUNT=4"
    assert data["timezone"] == "America/Toronto"
    assert data["free"] == 4
    assert [v["conflict"] for v in data["visits"]] == [None] * 4
    assert not Appointment.objects.exists(), "a preview writes nothing"

    booked = post(
        front_desk_client, body(assessment, location, physio, patient, start, preview=False)
    )
    assert booked.status_code == 201, booked.content
    result = booked.json()
    assert len(result["appointments"]) == 4
    assert result["skipped"] == []
    assert "reason" not in result["appointments"][0], "front desk gets no clinical content"
    assert Series.objects.get().pk == result["series"]["id"]


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"by_weekday": ["MO"], "count": 10_000}, "rule.count"),
        ({"by_weekday": ["MO"], "count": 0}, "rule.count"),
        ({"by_weekday": ["Monday"], "count": 3}, "rule.by_weekday"),
        ({"by_weekday": [], "count": 3}, "rule.by_weekday"),
        ({"by_weekday": ["MO"] * 8, "count": 3}, "rule.by_weekday"),
        ({"by_weekday": ["MO", "MO"], "count": 3}, "rule.by_weekday"),
        ({"by_weekday": ["MO"], "count": 3, "until": "2027-03-01"}, "rule"),
        ({"by_weekday": ["MO"]}, "rule"),
        ({"by_weekday": ["MO"], "until": "2026-01-01"}, "rule.until"),
        ({"by_weekday": ["MO"], "until": "2029-12-31"}, "rule.until"),
        ({"by_weekday": ["MO"], "until": "not-a-date"}, "rule.until"),
        ({"freq": "daily", "by_weekday": ["MO"], "count": 3}, "rule.freq"),
        ({"by_weekday": "MO", "count": 3}, "rule.by_weekday"),
        ({"by_weekday": ["MO\u0000"], "count": 3}, "rule.by_weekday"),
        ({"by_weekday": [["MO"]], "count": 3}, "rule.by_weekday"),
        ({"by_weekday": ["TH"], "count": 3}, "start"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(
    front_desk_client, location, assessment, physio, patient, rule, field
):
    start = at(datetime.date(2027, 2, 1), "11:00")  # a Monday
    response = post(
        front_desk_client, body(assessment, location, physio, patient, start, rule=rule)
    )
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    fields = [e["field"] for e in response.json()["errors"]]
    assert any(f == field or f.startswith(f"{field}.") for f in fields), fields
    assert not Series.objects.exists()


def test_the_maximum_is_documented_in_the_refusal(
    front_desk_client, location, assessment, physio, patient
):
    start = at(datetime.date(2027, 2, 1), "11:00")
    rule = {"by_weekday": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"], "until": "2028-01-30"}
    response = post(
        front_desk_client, body(assessment, location, physio, patient, start, rule=rule)
    )
    assert response.status_code == 422
    assert str(MAX_SERIES_VISITS) in response.json()["errors"][0]["message"]


def test_a_naive_start_and_a_bad_choice_are_refused(
    front_desk_client, location, assessment, physio, patient
):
    start = at(datetime.date(2027, 2, 1), "11:00")
    naive = body(assessment, location, physio, patient, start)
    naive["start"] = "2027-02-01T11:00:00"
    assert post(front_desk_client, naive).status_code == 400
    wrong = body(assessment, location, physio, patient, start, on_conflict="maybe")
    response = post(front_desk_client, wrong)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "on_conflict"


def test_anonymous_callers_are_refused(api_client, location, assessment, physio, patient):
    start = at(datetime.date(2027, 2, 1), "11:00")
    assert post(api_client, body(assessment, location, physio, patient, start)).status_code == 401


def test_a_clinician_books_a_series_only_on_their_own_calendar(
    location, assessment, physio, patient
):
    user = clinician_user("series-clinician", provider=physio)
    link_patient(patient, physio)
    colleague = ProviderFactory(display_name="Colleague", locations=[location])
    offer(colleague, assessment, location)
    weekly_hours(colleague, location)
    link_patient(patient, colleague)
    client = client_for(user)
    start = at(datetime.date(2027, 2, 1), "11:00")
    other = post(client, body(assessment, location, colleague, patient, start, preview=False))
    assert other.status_code == 403, other.content
    assert other.json()["errors"][0]["field"] == "provider"
    own = post(client, body(assessment, location, physio, patient, start, preview=False))
    assert own.status_code == 201
    assert "reason" in own.json()["appointments"][0], "the clinician reads their own visit"


def test_a_clinician_cannot_change_a_colleagues_series(location, assessment, physio, patient):
    booked = book_series(
        **series_args(
            assessment, location, physio, patient, at(datetime.date(2027, 2, 1), "11:00"), count=2
        )
    )
    outsider = clinician_user("series-outsider")
    response = client_for(outsider).post(
        f"/api/v1/appointments/series/{booked.series.pk}/cancel/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 404
    desk = client_for(make_staff_user("series-desk", roles.FRONT_DESK))
    response = desk.post(
        f"/api/v1/appointments/series/{booked.series.pk}/cancel/",
        {"reason": "Patient called", "from": "2027-02-04"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert len(response.json()["appointments"]) == 1
    again = desk.post(
        f"/api/v1/appointments/series/{booked.series.pk}/cancel/",
        {"reason": "Patient called", "from": "2027-03-04"},
        format="json",
    )
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "from"


def test_a_care_plan_proposes_the_rule_from_its_session_frequency(
    manager_client, front_desk_client, location, assessment, physio, patient
):
    plan = CarePlanFactory(patient=patient, lead=physio, location=location)
    CarePlan.objects.filter(pk=plan.pk).update(sessions_per_week=2, planned_weeks=3)
    start = at(datetime.date(2027, 2, 1), "11:00")
    data = body(assessment, location, physio, patient, start, rule=None, care_plan=plan.pk)
    hidden = post(front_desk_client, data)
    assert hidden.status_code == 422, "front desk reads no care plan: it answers like none"
    response = post(manager_client, data)
    assert response.status_code == 200, response.content
    assert response.json()["rule"]["count"] == 6
    assert response.json()["rule"]["by_weekday"] == ["MO", "TH"]
    someone_else = body(
        assessment, location, physio, PatientFactory(), start, rule=None, care_plan=plan.pk
    )
    refused = post(manager_client, someone_else)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "care_plan"


class _RolledBack(Exception):
    pass


def _booking_accepts(service, location, provider, patient, start) -> bool:
    """Book ``start`` alone through the one booking rule and roll it back."""
    try:
        with transaction.atomic():
            book_appointment(
                service=service, location=location, start=start, patient=patient, provider=provider
            )
            raise _RolledBack
    except _RolledBack:
        return True
    except DomainError:
        return False


def test_the_preview_calls_a_visit_free_exactly_when_the_booking_rule_accepts_it(
    location, assessment, patient
):
    provider = ProviderFactory(
        display_name="Busy Physio",
        locations=[location],
        credentials__valid_until=datetime.date(2027, 4, 22),
    )
    offer(provider, assessment, location)
    weekly_hours(provider, location, start="09:00", end="17:00", weekdays=(0, 1, 2, 3, 4))
    ClosureFactory(
        location=location,
        start_date=datetime.date(2027, 3, 18),
        end_date=datetime.date(2027, 3, 18),
    )
    AvailabilityExceptionFactory(
        provider=provider,
        start=at(datetime.date(2027, 3, 22), "00:00"),
        end=at(datetime.date(2027, 3, 23), "00:00"),
    )
    book_appointment(
        service=assessment,
        location=location,
        start=at(datetime.date(2027, 3, 25), "09:30"),
        patient=PatientFactory(),
        provider=provider,
    )
    book_appointment(
        service=assessment,
        location=location,
        start=at(datetime.date(2027, 4, 1), "10:00"),
        patient=patient,
        provider=provider,
    )
    seen = set()
    for hh_mm in ("09:00", "10:00", "15:45", "16:30", "09:10"):
        plan = preview_series(
            **series_args(
                assessment,
                location,
                provider,
                patient,
                at(datetime.date(2027, 3, 11), hh_mm),  # a Thursday, across the spring change
                by_weekday=["MO", "TH"],
                count=14,
            )
        )
        for visit in plan.visits:
            accepted = _booking_accepts(assessment, location, provider, patient, visit.start)
            assert visit.free is accepted, (hh_mm, visit)
            seen.add(visit.conflict.code if visit.conflict else "free")
    assert seen >= {
        "free",
        "closed",
        "credential_expired",
        "outside_hours",
        "provider_busy",
        "patient_busy",
        "not_a_start_time",
    }, seen


def test_one_series_visit_changed_through_the_appointment_endpoints_is_told_by_the_series(
    front_desk_client, location, assessment, physio, patient, django_capture_on_commit_callbacks
):
    start = at(datetime.date(2027, 2, 1), "11:00")
    booked = book_series(**series_args(assessment, location, physio, patient, start, count=4))
    first, second = booked.appointments[:2]
    with django_capture_on_commit_callbacks(execute=True):
        cancel = front_desk_client.post(
            f"/api/v1/appointments/{first.pk}/cancel/", {"reason": "Sick"}, format="json"
        )
        move = front_desk_client.post(
            f"/api/v1/appointments/{second.pk}/reschedule/",
            {"start": at(datetime.date(2027, 2, 4), "14:00").isoformat()},
            format="json",
        )
    assert cancel.status_code == 200
    assert move.status_code == 200
    [cancellation] = Notification.objects.filter(kind="series.cancellation")
    assert cancellation.context["appointments"] == [first.pk]
    [change] = Notification.objects.filter(kind="series.change")
    assert change.context["previous"] == {str(second.pk): second.start.isoformat()}
    per_visit = Notification.objects.filter(
        kind__in=["appointment.confirmation", "appointment.change", "appointment.cancellation"]
    )
    assert not per_visit.exists(), "no per-visit notice beside the series' own"
