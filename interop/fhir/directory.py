"""The clinic's directory: Practitioner, PractitionerRole, Location, HealthcareService.

Configuration, read by every staff role (as the staff API's providers, locations and services).
Qualifications come from the providers' credentials, with their validity and issuer; R4 puts
``qualification`` on Practitioner (PractitionerRole has no such element), so that is where they
are, and each PractitionerRole points at its Practitioner.
"""

from collections import defaultdict

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest

from clinic.models import Location
from interop.fhir.base import ModelHandler, SearchParam, concept, ref, system
from interop.fhir.params import Params
from providers.models import Credential, Provider
from scheduling.models import Offering, Service

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
COUNT = SearchParam("_count", "number", "Page size (at most 200).")


def _active_filter(queryset: QuerySet, params: Params, field: str = "is_active") -> QuerySet:
    active = params.boolean("active")
    return queryset if active is None else queryset.filter(**{field: active})


def _offered(provider_ids=None, service_ids=None) -> list[tuple[int, int, int]]:
    """(provider, service, location) of every active offering, in one query."""
    rows = Offering.objects.filter(is_active=True)
    if provider_ids is not None:
        rows = rows.filter(provider_id__in=provider_ids)
    if service_ids is not None:
        rows = rows.filter(service_id__in=service_ids)
    return list(rows.values_list("provider_id", "service_id", "location_id").order_by("id"))


class PractitionerHandler(ModelHandler):
    type = "Practitioner"
    search_params = (
        SearchParam("name", "string", "Part of the provider's name."),
        SearchParam("active", "token", "true or false."),
        COUNT,
    )

    def queryset(self, request: HttpRequest) -> QuerySet:
        credentials = Credential.objects.filter(status=Credential.Status.ACTIVE).order_by(
            "valid_from", "id"
        )
        return Provider.objects.prefetch_related(
            Prefetch("credentials", queryset=credentials)
        ).order_by("display_name", "id")

    def filter(self, queryset: QuerySet, params: Params, request: HttpRequest) -> QuerySet:
        name = params.one("name")
        if name:
            queryset = queryset.filter(display_name__icontains=name)
        return _active_filter(queryset, params)

    def to_resource(self, provider: Provider, request: HttpRequest) -> dict:
        resource = {
            "resourceType": "Practitioner",
            "id": str(provider.pk),
            "active": provider.is_active,
            "name": [{"text": provider.display_name}],
            "qualification": [_qualification(c) for c in provider.credentials.all()],
        }
        if provider.email:
            resource["telecom"] = [{"system": "email", "value": provider.email, "use": "work"}]
        return resource


def _qualification(credential: Credential) -> dict:
    """A credential: its number, kind and jurisdiction, validity dates and issuing body."""
    where = credential.jurisdiction or "any jurisdiction"
    period = {"start": credential.valid_from.isoformat()}
    if credential.valid_until:
        period["end"] = credential.valid_until.isoformat()
    return {
        "identifier": [
            {"system": system(f"credential/{credential.kind}"), "value": credential.number}
        ],
        "code": concept(
            "credential-kind",
            credential.kind,
            f"{credential.get_kind_display()} ({where})",
        ),
        "period": period,
        "issuer": {"display": credential.issuing_body},
    }


class PractitionerRoleHandler(ModelHandler):
    """One role per provider: their discipline, the locations they work at and the services
    they offer."""

    type = "PractitionerRole"
    search_params = (
        SearchParam("practitioner", "reference", "Practitioner/<id>."),
        SearchParam("location", "reference", "Location/<id>."),
        SearchParam("role", "token", "Discipline code, e.g. physiotherapist."),
        SearchParam("service", "reference", "HealthcareService/<id> the provider offers."),
        SearchParam("active", "token", "true or false."),
        COUNT,
    )

    def queryset(self, request: HttpRequest) -> QuerySet:
        return (
            Provider.objects.select_related("discipline")
            .prefetch_related("locations")
            .order_by("display_name", "id")
        )

    def filter(self, queryset: QuerySet, params: Params, request: HttpRequest) -> QuerySet:
        practitioner = params.int_reference("practitioner", "Practitioner")
        if practitioner is not None:
            queryset = queryset.filter(pk=practitioner)
        location = params.int_reference("location", "Location")
        if location is not None:
            queryset = queryset.filter(locations=location)
        roles = params.token_codes("role", system("discipline"))
        if roles is not None:
            queryset = queryset.filter(discipline__code__in=roles)
        service = params.int_reference("service", "HealthcareService")
        if service is not None:
            offering = Offering.objects.filter(service_id=service, is_active=True)
            queryset = queryset.filter(pk__in=offering.values("provider_id"))
        return _active_filter(queryset, params).distinct()

    def prepare(self, providers: list, request: HttpRequest) -> None:
        self._services: dict[int, list[int]] = defaultdict(list)
        for provider_id, service_id, _ in _offered(provider_ids=[p.pk for p in providers]):
            if service_id not in self._services[provider_id]:
                self._services[provider_id].append(service_id)

    def to_resource(self, provider: Provider, request: HttpRequest) -> dict:
        discipline = provider.discipline
        return {
            "resourceType": "PractitionerRole",
            "id": str(provider.pk),
            "active": provider.is_active,
            "practitioner": ref("Practitioner", provider.pk, provider.display_name),
            "code": [concept("discipline", discipline.code, discipline.name)],
            "location": [ref("Location", loc.pk, loc.name) for loc in provider.locations.all()],
            "healthcareService": [
                ref("HealthcareService", sid) for sid in self._services.get(provider.pk, [])
            ],
        }


class LocationHandler(ModelHandler):
    type = "Location"
    search_params = (
        SearchParam("name", "string", "Part of the location's name."),
        SearchParam("address-city", "string", "The city."),
        COUNT,
    )

    def queryset(self, request: HttpRequest) -> QuerySet:
        return Location.objects.order_by("name", "id")

    def filter(self, queryset: QuerySet, params: Params, request: HttpRequest) -> QuerySet:
        name = params.one("name")
        if name:
            queryset = queryset.filter(name__icontains=name)
        city = params.one("address-city")
        if city:
            queryset = queryset.filter(city__iexact=city)
        return queryset

    def to_resource(self, location: Location, request: HttpRequest) -> dict:
        resource = {
            "resourceType": "Location",
            "id": str(location.pk),
            "extension": [{"url": TIMEZONE_EXTENSION, "valueCode": location.timezone}],
            "status": "active" if location.is_active else "inactive",
            "name": location.name,
            "mode": "instance",
            "address": {
                "line": [location.address_line] if location.address_line else None,
                "city": location.city or None,
                "state": location.region or None,
                "postalCode": location.postal_code or None,
                "country": location.country or None,
            },
        }
        telecom = [{"system": "phone", "value": location.phone}] if location.phone else []
        if location.email:
            telecom.append({"system": "email", "value": location.email})
        if telecom:
            resource["telecom"] = telecom
        if location.is_virtual:
            resource["physicalType"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                        "code": "vi",
                        "display": "Virtual",
                    }
                ]
            }
        return resource


class HealthcareServiceHandler(ModelHandler):
    type = "HealthcareService"
    search_params = (
        SearchParam("name", "string", "Part of the service's name."),
        SearchParam("location", "reference", "Location/<id> where someone offers it."),
        SearchParam("service-type", "token", "The service's code."),
        SearchParam("active", "token", "true or false."),
        COUNT,
    )

    def queryset(self, request: HttpRequest) -> QuerySet:
        return Service.objects.order_by("name", "id")

    def filter(self, queryset: QuerySet, params: Params, request: HttpRequest) -> QuerySet:
        name = params.one("name")
        if name:
            queryset = queryset.filter(name__icontains=name)
        location = params.int_reference("location", "Location")
        if location is not None:
            offered = Offering.objects.filter(location_id=location, is_active=True)
            queryset = queryset.filter(pk__in=offered.values("service_id"))
        codes = params.token_codes("service-type", system("service"))
        if codes is not None:
            queryset = queryset.filter(code__in=codes)
        return _active_filter(queryset, params)

    def prepare(self, services: list, request: HttpRequest) -> None:
        self._locations: dict[int, list[int]] = defaultdict(list)
        for _, service_id, location_id in _offered(service_ids=[s.pk for s in services]):
            if location_id not in self._locations[service_id]:
                self._locations[service_id].append(location_id)

    def to_resource(self, service: Service, request: HttpRequest) -> dict:
        resource = {
            "resourceType": "HealthcareService",
            "id": str(service.pk),
            "active": service.is_active,
            "name": service.name,
            "type": [concept("service", service.code, service.name)],
            "location": [ref("Location", lid) for lid in self._locations.get(service.pk, [])],
            "appointmentRequired": True,
            "characteristic": [
                concept("modality", service.modality, service.get_modality_display())
            ],
            "extraDetails": (
                f"{service.duration_minutes} minutes; {service.price} in the location's currency"
                + ("; free consult" if service.is_free_consult else "")
            ),
        }
        if service.description:
            resource["comment"] = service.description
        return resource


def service_concepts(service_ids: set[int]) -> dict[int, dict]:
    """The service-type concept of each service (one query), for Schedule and Slot."""
    return {
        pk: concept("service", code, name)
        for pk, code, name in Service.objects.filter(pk__in=service_ids).values_list(
            "pk", "code", "name"
        )
    }


def active_offering_q(prefix: str = "") -> Q:
    return Q(**{f"{prefix}is_active": True, f"{prefix}provider__is_active": True})
