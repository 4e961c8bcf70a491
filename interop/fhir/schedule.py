"""Schedule (a provider at a location), Slot (free time) and Appointment.

Slots come from the one availability search, through the same ``public_slots`` as the booking
widget's availability endpoint, so a Slot search and the widget offer the same start times.
A Slot id names its schedule, service and start (``<provider>-<location>-<service>-<epoch>``):
stable while the time stays free, and reading one re-checks that it still is.
"""

import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from clinic.models import Location
from interop.fhir.base import (
    Handler,
    ModelHandler,
    Page,
    SearchParam,
    concept,
    instant,
    meta,
    ref,
    system,
    validated,
)
from interop.fhir.directory import COUNT
from interop.fhir.errors import BadParameter, NotFound
from interop.fhir.params import Params
from patients.access import sees_clinical_content
from providers.models import Provider
from scheduling.models import Appointment, Offering, Service
from scheduling.selectors import appointments_for, public_slots

SCHEDULE_ID = re.compile(r"^(\d{1,18})-(\d{1,18})$")
SLOT_ID = re.compile(r"^(\d{1,18})-(\d{1,18})-(\d{1,18})-(\d{1,12})$")
DEFAULT_SLOT_DAYS = 7
MAX_SLOT_DAYS = 62

STATUS_TO_FHIR = {
    Appointment.Status.BOOKED: "booked",
    Appointment.Status.CONFIRMED: "booked",
    Appointment.Status.ARRIVED: "arrived",
    Appointment.Status.COMPLETED: "fulfilled",
    Appointment.Status.CANCELLED: "cancelled",
    Appointment.Status.NO_SHOW: "noshow",
}
FHIR_TO_STATUSES: dict[str, list[str]] = defaultdict(list)
for _ours, _theirs in STATUS_TO_FHIR.items():
    FHIR_TO_STATUSES[_theirs].append(_ours)


def clinic_zone():
    """Dates without a zone in Appointment searches: the zone of the clinic's first location."""
    location = Location.objects.filter(is_active=True).order_by("pk").only("timezone").first()
    return location.zone if location else UTC


class ScheduleHandler(Handler):
    """A provider's calendar at one location where they actively offer services."""

    type = "Schedule"
    search_params = (
        SearchParam("actor", "reference", "Practitioner/<id> or Location/<id>."),
        SearchParam("service-type", "token", "A service's code."),
        SearchParam("active", "token", "true or false."),
        COUNT,
    )

    def _schedules(self, provider_id=None, location_id=None, service_codes=None) -> list[dict]:
        rows = Offering.objects.filter(is_active=True)
        if provider_id is not None:
            rows = rows.filter(provider_id=provider_id)
        if location_id is not None:
            rows = rows.filter(location_id=location_id)
        if service_codes is not None:
            wanted = Offering.objects.filter(is_active=True, service__code__in=service_codes)
            rows = rows.filter(
                provider_id__in=wanted.values("provider_id"),
                location_id__in=wanted.values("location_id"),
            )
        grouped: dict[tuple[int, int], dict] = {}
        for pid, lid, active, pname, lname, code, sname in rows.values_list(
            "provider_id",
            "location_id",
            "provider__is_active",
            "provider__display_name",
            "location__name",
            "service__code",
            "service__name",
        ).order_by("provider__display_name", "provider_id", "location__name", "location_id", "id"):
            entry = grouped.setdefault(
                (pid, lid),
                {"pid": pid, "lid": lid, "active": active, "p": pname, "l": lname, "s": []},
            )
            entry["s"].append(concept("service", code, sname))
        return list(grouped.values())

    def _resource(self, entry: dict) -> dict:
        return {
            "resourceType": "Schedule",
            "id": f"{entry['pid']}-{entry['lid']}",
            "active": entry["active"],
            "serviceType": entry["s"],
            "actor": [
                ref("Practitioner", entry["pid"], entry["p"]),
                ref("Location", entry["lid"], entry["l"]),
            ],
        }

    def read(self, request: HttpRequest, ident: str) -> dict:
        matched = SCHEDULE_ID.match(ident)
        found = self._schedules(int(matched[1]), int(matched[2])) if matched else []
        if not found:
            raise NotFound(self.type, ident)
        return validated(self._resource(found[0]))

    def search(self, request: HttpRequest, params: Params) -> Page:
        actor = params.one("actor")
        provider_id = location_id = None
        if actor is not None:
            if actor.split("/")[-2:-1] == ["Location"]:
                location_id = params.int_reference("actor", "Location")
            else:
                provider_id = params.int_reference("actor", "Practitioner")
        codes = params.token_codes("service-type", system("service"))
        entries = self._schedules(provider_id, location_id, codes)
        active = params.boolean("active")
        if active is not None:
            entries = [e for e in entries if e["active"] == active]
        page = entries[params.offset : params.offset + params.count]
        return Page([self._resource(e) for e in page], len(entries))


def schedule_parts(ident: str, name: str) -> tuple[Provider, Location]:
    matched = SCHEDULE_ID.match(ident)
    if matched:
        offering = (
            Offering.objects.filter(
                provider_id=int(matched[1]), location_id=int(matched[2]), is_active=True
            )
            .select_related("provider", "location")
            .first()
        )
        if offering is not None:
            return offering.provider, offering.location
    raise BadParameter(name, f"no Schedule has the id '{ident}'.")


class SlotHandler(Handler):
    """Free times only (``status`` is always ``free``). ``schedule`` and ``service-type`` are
    required: a start time is free for one service with one provider at one place."""

    type = "Slot"
    search_params = (
        SearchParam("schedule", "reference", "Schedule/<provider>-<location> (required)."),
        SearchParam("service-type", "token", "The service's code (required)."),
        SearchParam(
            "start",
            "date",
            f"ge/gt/lt/le bounds; default the next {DEFAULT_SLOT_DAYS} days, "
            f"at most {MAX_SLOT_DAYS} days.",
        ),
        SearchParam("status", "token", "free (the only status served)."),
        COUNT,
    )

    def _slots(
        self, provider: Provider, location: Location, service: Service, low, high
    ) -> list[dict]:
        zone = location.zone
        slots = public_slots(
            service=service,
            location=location,
            start_date=low.astimezone(zone).date(),
            end_date=(high - timedelta(microseconds=1)).astimezone(zone).date(),
            provider=provider,
        )
        kind = concept("service", service.code, service.name)
        schedule = ref("Schedule", f"{provider.pk}-{location.pk}")
        return [
            {
                "resourceType": "Slot",
                "id": f"{provider.pk}-{location.pk}-{service.pk}-{int(s.start.timestamp())}",
                "schedule": schedule,
                "serviceType": [kind],
                "status": "free",
                "start": instant(s.start.astimezone(zone)),
                "end": instant(s.end.astimezone(zone)),
                "comment": f"{s.spots_left} place(s) left" if service.capacity > 1 else None,
            }
            for s in slots
            if low <= s.start < high
        ]

    def _service(self, location: Location, provider: Provider, codes: list[str]) -> Service | None:
        return (
            Service.objects.filter(
                code__in=codes,
                offerings__provider=provider,
                offerings__location=location,
                offerings__is_active=True,
            )
            .distinct()
            .first()
        )

    def search(self, request: HttpRequest, params: Params) -> Page:
        schedule = params.reference_id("schedule", "Schedule")
        codes = params.token_codes("service-type", system("service"))
        if schedule is None or codes is None:
            raise BadParameter(
                "schedule" if schedule is None else "service-type", "required for Slot."
            )
        if len(codes) != 1:
            raise BadParameter("service-type", "give one service.")
        statuses = params.token_codes("status")
        provider, location = schedule_parts(schedule, "schedule")
        window = params.date_range("start", location.zone)
        try:
            low = window.low or timezone.now()
            high = window.high or low + timedelta(days=DEFAULT_SLOT_DAYS)
            # The search works on whole local days around the bounds.
            (high + timedelta(days=2)).astimezone(location.zone)
            (low - timedelta(days=2)).astimezone(location.zone)
        except OverflowError:
            raise BadParameter("start", "a date out of range.") from None
        if high - low > timedelta(days=MAX_SLOT_DAYS):
            raise BadParameter("start", f"at most {MAX_SLOT_DAYS} days at a time.")
        service = self._service(location, provider, codes)
        if service is None or high <= low or (statuses is not None and "free" not in statuses):
            return Page([], 0)
        found = self._slots(provider, location, service, low, high)
        return Page(found[params.offset : params.offset + params.count], len(found))

    def read(self, request: HttpRequest, ident: str) -> dict:
        matched = SLOT_ID.match(ident)
        if matched:
            pid, lid, sid, epoch = (int(g) for g in matched.groups())
            offering = (
                Offering.objects.filter(
                    provider_id=pid, location_id=lid, service_id=sid, is_active=True
                )
                .select_related("provider", "location", "service")
                .first()
            )
            if offering is not None:
                start = datetime.fromtimestamp(epoch, UTC)
                found = self._slots(
                    offering.provider,
                    offering.location,
                    offering.service,
                    start,
                    start + timedelta(seconds=1),
                )
                if found:
                    return validated(found[0])
        raise NotFound(self.type, ident)


class AppointmentHandler(ModelHandler):
    """Appointments as the staff API shows them: front desk and managers all, clinicians their
    own schedule; the patient's reason (clinical) only for clinical roles, whose reads are
    audited."""

    type = "Appointment"
    search_params = (
        SearchParam("patient", "reference", "Patient/<id>."),
        SearchParam("practitioner", "reference", "Practitioner/<id>."),
        SearchParam("location", "reference", "Location/<id>."),
        SearchParam("date", "date", "The start, with ge/gt/lt/le/eq prefixes."),
        SearchParam("status", "token", "booked, arrived, fulfilled, cancelled, noshow."),
        SearchParam("_lastUpdated", "date", "When the appointment last changed."),
        COUNT,
    )

    def audits(self, request: HttpRequest) -> bool:
        return sees_clinical_content(request.user)

    def queryset(self, request: HttpRequest) -> QuerySet:
        return appointments_for(request.user)

    def filter(self, queryset: QuerySet, params: Params, request: HttpRequest) -> QuerySet:
        for name, field, kind in (
            ("patient", "patient_id", "Patient"),
            ("practitioner", "provider_id", "Practitioner"),
            ("location", "location_id", "Location"),
        ):
            value = params.int_reference(name, kind)
            if value is not None:
                queryset = queryset.filter(**{field: value})
        statuses = params.token_codes("status", "http://hl7.org/fhir/appointmentstatus")
        if statuses is not None:
            queryset = queryset.filter(
                status__in=[ours for code in statuses for ours in FHIR_TO_STATUSES.get(code, [])]
            )
        if params.values("date") or params.values("_lastUpdated"):
            zone = clinic_zone()
            for name, field in (("date", "start"), ("_lastUpdated", "updated_at")):
                window = params.date_range(name, zone)
                if window.low is not None:
                    queryset = queryset.filter(**{f"{field}__gte": window.low})
                if window.high is not None:
                    queryset = queryset.filter(**{f"{field}__lt": window.high})
        return queryset

    def to_resource(self, appointment: Appointment, request: HttpRequest) -> dict:
        zone = appointment.location.zone
        patient, provider, location = (
            appointment.patient,
            appointment.provider,
            appointment.location,
        )
        resource = {
            "resourceType": "Appointment",
            "id": str(appointment.pk),
            "meta": meta(appointment.updated_at),
            "identifier": [
                {"system": system("appointment-reference"), "value": appointment.reference}
            ],
            "status": STATUS_TO_FHIR[appointment.status],
            "serviceType": [concept("service", appointment.service.code, appointment.service.name)],
            "start": instant(appointment.start.astimezone(zone)),
            "end": instant(appointment.end.astimezone(zone)),
            "minutesDuration": int((appointment.end - appointment.start).total_seconds() // 60),
            "created": instant(appointment.created_at),
            "participant": [
                {"actor": ref("Patient", patient.pk, patient.full_name), "status": "accepted"},
                {
                    "actor": ref("Practitioner", provider.pk, provider.display_name),
                    "status": "accepted",
                },
                {"actor": ref("Location", location.pk, location.name), "status": "accepted"},
            ],
        }
        if appointment.status == Appointment.Status.CANCELLED and appointment.cancelled_by:
            code = "pat" if appointment.cancelled_by == Appointment.CancelledBy.PATIENT else "prov"
            resource["cancelationReason"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason",
                        "code": code,
                    }
                ]
            }
        if appointment.reason and sees_clinical_content(request.user):
            resource["reasonCode"] = [{"text": appointment.reason}]
        return resource
