"""The peer's side of the availability comparison. Runs in the peer's own virtual environment.

Rebuilds one provider's calendar (the one the project's "1 provider x month" case searches) in
django-appointment's models -- same working hours, 45-minute service, 15-minute slot step, same
booked appointments -- then times the peer's own slot function,
``appointment.services.get_available_slots_for_staff``, over every day of the month (its widget
asks one day at a time).

Reads a JSON spec on stdin and writes its result as JSON to the file the spec names (the peer
logs to stdout).
"""

import json
import os
import sys
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "peer_settings"

import django

django.setup()

from appointment.models import (  # noqa: E402
    Appointment,
    AppointmentRequest,
    Config,
    Service,
    StaffMember,
    WorkingHours,
)
from appointment.services import get_available_slots_for_staff  # noqa: E402
from appointment.utils.db_helpers import get_weekday_num_from_date  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402


def build(spec: dict) -> tuple[StaffMember, Service]:
    # The wheel ships no migrations: migrate the contrib apps, then create the peer's tables.
    call_command("migrate", verbosity=0)
    call_command("migrate", run_syncdb=True, verbosity=0)
    Config.objects.create(
        slot_duration=spec["step_minutes"],
        lead_time=dtime.fromisoformat(spec["day_start"]),
        finish_time=dtime.fromisoformat(spec["day_end"]),
        appointment_buffer_time=0,
    )
    user = get_user_model().objects.create_user(username="pt", email="pt@clinic.example")
    client = get_user_model().objects.create_user(username="client", email="c@example.org")
    service = Service.objects.create(
        name="Physiotherapy follow-up",
        duration=timedelta(minutes=spec["duration_minutes"]),
        price=95,
    )
    staff = StaffMember.objects.create(user=user, slot_duration=spec["step_minutes"])
    staff.services_offered.add(service)
    for weekday in spec["weekdays"]:  # Python's Monday=0; the peer's Sunday=0
        WorkingHours.objects.create(
            staff_member=staff,
            day_of_week=(weekday + 1) % 7,
            start_time=dtime.fromisoformat(spec["day_start"]),
            end_time=dtime.fromisoformat(spec["day_end"]),
        )
    duration = timedelta(minutes=spec["duration_minutes"])
    requests = AppointmentRequest.objects.bulk_create(
        AppointmentRequest(
            date=date.fromisoformat(day),
            start_time=dtime.fromisoformat(start),
            end_time=(datetime.combine(date.today(), dtime.fromisoformat(start)) + duration).time(),
            service=service,
            staff_member=staff,
            id_request=f"bench-{n}",
        )
        for n, (day, start) in enumerate(spec["appointments"])
    )
    Appointment.objects.bulk_create(
        Appointment(client=client, appointment_request=ar, amount_to_pay=0, id_request=f"b-{n}")
        for n, ar in enumerate(requests)
    )
    return staff, service


def month_of_slots(staff: StaffMember, service: Service, days: list[date]) -> list[datetime]:
    slots = []
    for day in days:
        slots += get_available_slots_for_staff(
            day, staff, get_weekday_num_from_date(day), service=service
        )
    return slots


def main() -> None:
    spec = json.load(sys.stdin)
    staff, service = build(spec)
    first = date.fromisoformat(spec["first_day"])
    days = [first + timedelta(days=n) for n in range(spec["days"])]
    slots = month_of_slots(staff, service, days)
    with CaptureQueriesContext(connection) as captured:
        month_of_slots(staff, service, days)
    for _ in range(2):
        month_of_slots(staff, service, days)
    times = []
    for _ in range(spec["runs"]):
        started = time.perf_counter()
        month_of_slots(staff, service, days)
        times.append(time.perf_counter() - started)
    result = {
        "slots": [slot.isoformat() for slot in slots],
        "queries": len(captured),
        "seconds": times,
        "django": django.get_version(),
    }
    Path(spec["out"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
