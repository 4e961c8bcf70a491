"""The resource types this server serves, and the CapabilityStatement that describes them
(generated from the same handlers, so it cannot drift from what is served)."""

from django.conf import settings
from django.http import HttpRequest

from interop.fhir.base import Handler, base_url, validated
from interop.fhir.clinical import CarePlanHandler, PatientHandler
from interop.fhir.directory import (
    HealthcareServiceHandler,
    LocationHandler,
    PractitionerHandler,
    PractitionerRoleHandler,
)
from interop.fhir.schedule import AppointmentHandler, ScheduleHandler, SlotHandler

HANDLERS: dict[str, Handler] = {
    h.type: h
    for h in (
        PractitionerHandler(),
        PractitionerRoleHandler(),
        LocationHandler(),
        HealthcareServiceHandler(),
        ScheduleHandler(),
        SlotHandler(),
        AppointmentHandler(),
        PatientHandler(),
        CarePlanHandler(),
    )
}
FHIR_VERSION = "4.0.1"
RELEASE_DATE = "2026-12-01"


def capability_statement(request: HttpRequest) -> dict:
    return validated(
        {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": RELEASE_DATE,
            "publisher": "Clinic practice management",
            "kind": "instance",
            "software": {"name": "Clinic practice management"},
            "implementation": {
                "description": "Read-only FHIR R4 API for staff tokens",
                "url": base_url(request),
            },
            "fhirVersion": FHIR_VERSION,
            "format": ["application/fhir+json", "json"],
            "rest": [
                {
                    "mode": "server",
                    "documentation": (
                        "Authorization: Token <staff token>. Role checks and audit as the "
                        "staff API; unknown search parameters are refused with 400."
                    ),
                    "security": {
                        "service": [
                            {
                                "coding": [
                                    {
                                        "system": "http://terminology.hl7.org/CodeSystem/"
                                        "restful-security-service",
                                        "code": "Basic",
                                        "display": "Token in the Authorization header",
                                    }
                                ],
                                "text": "Authorization: Token <key>",
                            }
                        ],
                        "cors": False,
                    },
                    "resource": [
                        {
                            "type": handler.type,
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "versioning": "no-version",
                            "readHistory": False,
                            "searchParam": [
                                {"name": p.name, "type": p.type, "documentation": p.documentation}
                                for p in handler.search_params
                            ],
                        }
                        for handler in HANDLERS.values()
                    ],
                }
            ],
            "url": f"{settings.PUBLIC_BASE_URL}/fhir/R4/metadata",
        }
    )
