"""The project's URLs plus one bench-only view: a plain Django view inserting one appointment row
into the same table, under the same exclusion constraints, as the booking API does.

It is the floor a booking cannot go below on this stack: request parsing, the middleware, one
INSERT checked by the two GiST exclusion constraints, one commit. No rules, no person matching,
no consents, no e-mail planning; it must never be reachable in the product (only
``bench.bare_settings`` routes to it).
"""

import json
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bench.bare import BARE_PATH
from clinic.urls import handler400, handler403, handler404, handler500  # noqa: F401
from clinic.urls import urlpatterns as product_urlpatterns
from scheduling.models import Appointment, new_reference


@csrf_exempt
@require_POST
def bare_booking(request: HttpRequest) -> JsonResponse:
    """Insert the appointment as given: 201, or 409 when an exclusion constraint refuses it."""
    data = json.loads(request.body)
    start = datetime.fromisoformat(data["start"])
    end = start + timedelta(minutes=int(data["minutes"]))
    reference = new_reference()
    try:
        with transaction.atomic():
            Appointment.objects.create(
                reference=reference,
                patient_id=data["patient"],
                provider_id=data["provider"],
                service_id=data["service"],
                location_id=data["location"],
                start=start,
                end=end,
                blocked_start=start,
                blocked_end=end,
                slot_key=f"one:{reference}",
                source=Appointment.Source.STAFF,
            )
    except IntegrityError:
        return JsonResponse({"detail": "That time is taken."}, status=409)
    return JsonResponse({"reference": reference}, status=201)


urlpatterns = [path(BARE_PATH.lstrip("/"), bare_booking), *product_urlpatterns]
