"""Demo scheduling for ``seed_demo``: the services of a multi-discipline clinic, who offers them
where (only where scope allows), eight weeks of weekly hours from the seed date, call-back
requests, and a spread of appointments: completed, no-shows and a late cancellation in the past
fortnight, booked and confirmed ones (and a group class) in the next.

Idempotent: services by code, offerings and hours by natural key, appointments by their
``DEMO....`` reference (an existing reference is never booked again), call-backs by phone.
"""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.demo import DemoContext
from clinic.errors import DomainError
from clinic.models import Location
from patients.models import Patient
from patients.services import match_or_create_patient
from providers.models import Act, Provider
from providers.scope import load_scope_index
from scheduling import services
from scheduling.models import (
    BLOCKING_STATUSES,
    Appointment,
    AppointmentEvent,
    CallbackRequest,
    Closure,
    Offering,
    Service,
    WeeklyAvailability,
)

# code, name, description, acts, minutes, buffer after, modality, price, room kind, capacity,
# free consult
SERVICES = [
    (
        "free-consult-phone",
        "Free consult by phone",
        "15 minutes with a physiotherapist or chiropractor to talk through what hurts and the "
        "best next step. No charge.",
        ["free_consult"],
        15,
        0,
        "phone",
        "0.00",
        "",
        1,
        True,
    ),
    (
        "free-consult-video",
        "Free consult by video",
        "The same free 15-minute consult, on a video call.",
        ["free_consult"],
        15,
        0,
        "video",
        "0.00",
        "",
        1,
        True,
    ),
    (
        "physio-assessment",
        "Physiotherapy assessment",
        "A first visit: history, examination, diagnosis and a plan of care.",
        ["diagnose", "manual_therapy"],
        60,
        10,
        "in_person",
        "120.00",
        "treatment",
        1,
        False,
    ),
    (
        "physio-follow-up",
        "Physiotherapy follow-up",
        "Treatment and exercise progression inside your plan of care.",
        ["manual_therapy", "therapeutic_exercise"],
        30,
        5,
        "in_person",
        "85.00",
        "treatment",
        1,
        False,
    ),
    (
        "dry-needling",
        "Dry needling",
        "Needling of trigger points by an endorsed physiotherapist.",
        ["dry_needling"],
        30,
        5,
        "in_person",
        "90.00",
        "treatment",
        1,
        False,
    ),
    (
        "chiropractic-visit",
        "Chiropractic assessment and adjustment",
        "Examination of the spine and joints, with spinal manipulation where it helps.",
        ["diagnose", "spinal_manipulation"],
        30,
        5,
        "in_person",
        "95.00",
        "treatment",
        1,
        False,
    ),
    (
        "massage-60",
        "Massage therapy, 60 minutes",
        "Swedish, deep-tissue or sports massage.",
        ["soft_tissue_massage"],
        60,
        15,
        "in_person",
        "110.00",
        "massage",
        1,
        False,
    ),
    (
        "massage-90",
        "Massage therapy, 90 minutes",
        "A longer session for full-body work.",
        ["soft_tissue_massage"],
        90,
        15,
        "in_person",
        "150.00",
        "massage",
        1,
        False,
    ),
    (
        "exercise-therapy",
        "Exercise therapy",
        "An exercise program that is safe for your condition, coached one to one.",
        ["exercise_program_design", "therapeutic_exercise"],
        45,
        5,
        "in_person",
        "80.00",
        "gym",
        1,
        False,
    ),
    (
        "personal-training",
        "Personal training",
        "One-to-one strength, cardio and mobility training.",
        ["fitness_training"],
        60,
        0,
        "in_person",
        "75.00",
        "gym",
        1,
        False,
    ),
    (
        "group-strength",
        "Strength and mobility class",
        "A small group class for up to eight people.",
        ["fitness_training"],
        60,
        0,
        "in_person",
        "25.00",
        "gym",
        8,
        False,
    ),
    (
        "online-training",
        "Online training session",
        "A coached workout on a video call, wherever you are.",
        ["fitness_training"],
        45,
        0,
        "video",
        "60.00",
        "",
        1,
        False,
    ),
]

PEOPLE = [
    ("Olivia", "Martin"),
    ("Liam", "Tremblay"),
    ("Emma", "Roy"),
    ("Noah", "Gagnon"),
    ("Ava", "Wilson"),
    ("Lucas", "Cote"),
    ("Chloe", "Bouchard"),
    ("Ethan", "Gauthier"),
    ("Maya", "Singh"),
    ("Leo", "Nguyen"),
    ("Zoe", "Campbell"),
    ("Omar", "Haddad"),
    ("Grace", "Kim"),
    ("Hugo", "Lefebvre"),
]

# Who offers what in the demo clinic (scope is still checked): a physiotherapist may massage as a
# technique, but the clinic books massage therapy with its massage therapists.
OFFERED_BY = {
    "free-consult-phone": {"physiotherapist", "chiropractor"},
    "free-consult-video": {"physiotherapist", "chiropractor"},
    "physio-assessment": {"physiotherapist"},
    "physio-follow-up": {"physiotherapist"},
    "dry-needling": {"physiotherapist"},
    "chiropractic-visit": {"chiropractor"},
    "massage-60": {"massage_therapist"},
    "massage-90": {"massage_therapist"},
    "exercise-therapy": {"exercise_therapist"},
    "personal-training": {"personal_trainer"},
    "group-strength": {"personal_trainer"},
    "online-training": {"personal_trainer", "exercise_therapist"},
}
WEEKS_OF_HOURS = 8
REMOTE = {"phone", "video"}


def seed(ctx: DemoContext) -> None:
    services_by_code = _services()
    locations = {loc.slug: loc for loc in Location.objects.all()}
    providers = list(Provider.objects.filter(is_active=True).prefetch_related("locations"))
    _offerings(providers, services_by_code, ctx.today)
    _hours(providers, ctx.today)
    if "pickering" in locations:
        _closure(locations["pickering"], ctx.today)
    patients = _patients()
    if patients:
        _appointments(ctx.today, patients, services_by_code)
    _callbacks()


def _services() -> dict[str, Service]:
    acts = {a.code: a for a in Act.objects.all()}
    found = {}
    for code, name, text, act_codes, minutes, after, modality, price, room, cap, free in SERVICES:
        service, _ = Service.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "description": text,
                "duration_minutes": minutes,
                "buffer_after_minutes": after,
                "modality": modality,
                "price": Decimal(price),
                "room_kind": room,
                "capacity": cap,
                "is_free_consult": free,
                "online_bookable": True,
                "is_active": True,
            },
        )
        wanted = {acts[c].pk for c in act_codes if c in acts}
        if set(service.required_acts.values_list("pk", flat=True)) != wanted:
            service.required_acts.set(wanted)
        found[code] = service
    return found


def _offerings(providers: list[Provider], by_code: dict[str, Service], today: date) -> None:
    """Each provider offers every service their scope covers at each of their locations:
    remote services at the virtual location, in-person ones elsewhere."""
    acts = {
        code: list(s.required_acts.values_list("code", flat=True)) for code, s in by_code.items()
    }
    for location in {loc for p in providers for loc in p.locations.all()}:
        here = [p for p in providers if location in p.locations.all()]
        index = load_scope_index([p.pk for p in here], None, location.jurisdiction)
        noon = datetime.combine(today, time(12), tzinfo=location.zone)
        for provider in here:
            for code, service in by_code.items():
                if (service.modality in REMOTE) != location.is_virtual:
                    continue
                if provider.discipline.code not in OFFERED_BY.get(code, ()):
                    continue
                if index.decide_acts(provider.pk, acts[code], location, noon).allowed:
                    Offering.objects.get_or_create(
                        provider=provider, service=service, location=location
                    )


def _hours(providers: list[Provider], today: date) -> None:
    """Weekdays shared out between a provider's locations; trainers also work Saturdays."""
    until = today + timedelta(weeks=WEEKS_OF_HOURS) - timedelta(days=1)
    for i, provider in enumerate(sorted(providers, key=lambda p: p.pk)):
        places = sorted(provider.locations.all(), key=lambda loc: loc.slug)
        if not places:
            continue
        days = [0, 1, 2, 3, 4] + ([5] if provider.discipline.code == "personal_trainer" else [])
        start, end = (time(8), time(16)) if i % 2 == 0 else (time(10), time(18))
        for weekday in days:
            location = places[(weekday + i) % len(places)]
            WeeklyAvailability.objects.update_or_create(
                provider=provider,
                location=location,
                weekday=weekday,
                defaults={
                    "start_time": start,
                    "end_time": end,
                    "valid_from": today,
                    "valid_until": until,
                },
            )


def _closure(location: Location, today: date) -> None:
    """A staff-training day three weeks out, so the widget shows a closed day."""
    day = today + timedelta(days=21)
    Closure.objects.get_or_create(
        location=location,
        start_date=day,
        defaults={"end_date": day, "reason": "Staff training day"},
    )


def _patients() -> list[Patient]:
    people = []
    for first, last in PEOPLE:
        patient, _ = match_or_create_patient(
            first_name=first,
            last_name=last,
            email=f"{first}.{last}@example.org".lower(),
            phone="+1 905 555 0" + str(100 + len(people)),
        )
        people.append(patient)
    return people


def _appointments(today: date, patients: list[Patient], by_code: dict[str, Service]) -> None:
    """Past fortnight written as history; next fortnight booked through the booking service."""
    now = timezone.now()
    offerings = list(
        Offering.objects.filter(is_active=True, service__capacity=1, service__is_free_consult=False)
        .select_related("provider", "service", "location")
        .order_by("provider_id", "service__code", "location_id")
    )
    by_provider: dict[int, list[Offering]] = {}
    for offering in offerings:
        by_provider.setdefault(offering.provider_id, []).append(offering)
    hours = {
        (h.provider_id, h.weekday): h
        for h in WeeklyAvailability.objects.filter(valid_from__lte=today)
    }
    counter = 0
    for offset in range(-14, 15):
        day = today + timedelta(days=offset)
        for provider_id, options in sorted(by_provider.items()):
            rule = hours.get((provider_id, day.weekday()))
            if rule is None:
                continue
            choices = [o for o in options if o.location_id == rule.location_id]
            for slot, hour_offset in enumerate((1, 4)):
                if not choices:
                    break
                counter += 1
                if (offset + slot + provider_id) % 3 == 0:
                    continue  # leave gaps: not every hour is booked
                offering = choices[(offset + slot) % len(choices)]
                start_local = datetime.combine(day, rule.start_time, tzinfo=offering.location.zone)
                start = start_local + timedelta(hours=hour_offset)
                patient = patients[counter % len(patients)]
                reference = f"DEMO{counter:04d}"
                if Appointment.objects.filter(reference=reference).exists():
                    continue
                if start < now:
                    _history(reference, offering, start, patient, counter)
                else:
                    _book(reference, offering, start, patient, confirmed=counter % 2 == 0)
    _group_class(today, patients, by_code.get("group-strength"))
    _free_consults(today, by_code)


def _history(reference: str, offering: Offering, start: datetime, patient: Patient, n: int):
    """A past appointment as it ended up: mostly completed, some no-shows and cancellations."""
    service = offering.service
    end = start + timedelta(minutes=service.duration_minutes)
    blocked_end = end + timedelta(minutes=service.buffer_after_minutes)
    overlapping = Appointment.objects.filter(
        status__in=BLOCKING_STATUSES, blocked_start__lt=blocked_end, blocked_end__gt=start
    )
    if (
        overlapping.filter(provider=offering.provider).exists()
        or overlapping.filter(patient=patient).exists()
    ):
        return
    outcome = n % 10
    status = "no_show" if outcome == 3 else "cancelled" if outcome == 7 else "completed"
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                reference=reference,
                patient=patient,
                provider=offering.provider,
                service=service,
                location=offering.location,
                start=start,
                end=end,
                blocked_start=start - timedelta(minutes=service.buffer_before_minutes),
                blocked_end=blocked_end,
                slot_key=f"one:{reference}",
                status=status,
                source="staff" if n % 2 else "online",
                cancel_reason="Sick" if status == "cancelled" else "",
                cancelled_by="patient" if status == "cancelled" else "",
                cancelled_at=start - timedelta(hours=3) if status == "cancelled" else None,
                late_cancellation=status == "cancelled",
            )
            AppointmentEvent.objects.create(
                appointment=appointment, kind=status, actor_label="demo data"
            )
    except IntegrityError:
        return


def _front_desk():
    """The demo's front-desk login, who books the demo's upcoming visits (history names them)."""
    return get_user_model().objects.filter(username="frontdesk").first()


def _book(reference: str, offering: Offering, start: datetime, patient: Patient, confirmed: bool):
    try:
        with transaction.atomic():
            appointment = services.book_appointment(
                service=offering.service,
                location=offering.location,
                start=start,
                patient=patient,
                provider=offering.provider,
                reason="Demo booking",
                actor=_front_desk(),
            )
            Appointment.objects.filter(pk=appointment.pk).update(reference=reference)
            if confirmed:
                services.change_status(appointment, "confirm", actor=_front_desk())
    except DomainError:
        return  # outside hours, out of scope (an expiring licence) or taken: not booked


def _group_class(today: date, patients: list[Patient], service: Service | None) -> None:
    """Next week's class with five of eight places taken, wherever a trainer runs one."""
    if service is None:
        return
    offerings = Offering.objects.filter(service=service, is_active=True).select_related(
        "provider", "location"
    )
    for offering in offerings.order_by("pk"):
        for days_ahead in range(3, 10):
            day = today + timedelta(days=days_ahead)
            rule = WeeklyAvailability.objects.filter(
                provider=offering.provider, location=offering.location, weekday=day.weekday()
            ).first()
            if rule is None:
                continue
            start = datetime.combine(
                day, rule.start_time, tzinfo=offering.location.zone
            ) + timedelta(hours=2)
            for n, patient in enumerate(patients[-5:]):
                reference = f"DEMOG{n:03d}"
                if not Appointment.objects.filter(reference=reference).exists():
                    _book(reference, offering, start, patient, confirmed=False)
            return


def _free_consults(today: date, by_code: dict[str, Service]) -> None:
    """Two leads booked a free consult for later this week."""
    service = by_code["free-consult-phone"]
    offering = (
        Offering.objects.filter(service=service, is_active=True)
        .select_related("provider", "location")
        .order_by("pk")
        .first()
    )
    if offering is None:
        return
    leads = [("Nina", "Park"), ("Ravi", "Shah")]
    for n, (first, last) in enumerate(leads):
        reference = f"DEMOF{n:03d}"
        if Appointment.objects.filter(reference=reference).exists():
            continue
        lead, _ = match_or_create_patient(
            first_name=first, last_name=last, email=f"{first}.{last}@example.org".lower()
        )
        for days_ahead in range(2, 9):
            day = today + timedelta(days=days_ahead)
            rule = WeeklyAvailability.objects.filter(
                provider=offering.provider, location=offering.location, weekday=day.weekday()
            ).first()
            if rule is None:
                continue
            start = datetime.combine(
                day, rule.start_time, tzinfo=offering.location.zone
            ) + timedelta(minutes=30 + 15 * n)
            _book(reference, offering, start, lead, confirmed=False)
            break


CALLBACKS = [
    ("Harriet Cole", "+1 905 555 0190", "Weekday mornings", "Is dry needling covered?", "new"),
    ("Dev Malhotra", "+1 905 555 0191", "After 5 pm", "Knee surgery in May; when to start?", "new"),
    ("June Park", "+1 718 555 0192", "", "Group class times in Brooklyn?", "contacted"),
]


def _callbacks() -> None:
    for name, phone, preferred, message, status in CALLBACKS:
        CallbackRequest.objects.get_or_create(
            phone=phone,
            defaults={
                "name": name,
                "preferred_time": preferred,
                "message": message,
                "status": status,
                "consent": {"contact": True},
            },
        )
