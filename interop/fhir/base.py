"""The shape every served resource type shares: read by id, search with paging, validation with
the R4B models, ``searchset`` bundles and the audit of clinical reads."""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from clinic.audit import build_event, object_label, record_events
from clinic.models import AuditEvent
from interop.fhir.errors import NotFound
from interop.fhir.params import Params

CODE_SYSTEM_BASE = f"{settings.PUBLIC_BASE_URL}/fhir/CodeSystem"


def system(name: str) -> str:
    """The clinic's own code systems (services, disciplines, phases, ...)."""
    return f"{CODE_SYSTEM_BASE}/{name}"


def coding(system_name: str, code: str, display: str = "") -> dict:
    entry = {"system": system(system_name), "code": code}
    if display:
        entry["display"] = display
    return entry


def concept(system_name: str, code: str, display: str = "") -> dict:
    return {"coding": [coding(system_name, code, display)], "text": display or code}


def ref(resource_type: str, ident: Any, display: str = "") -> dict:
    out = {"reference": f"{resource_type}/{ident}"}
    if display:
        out["display"] = display
    return out


def instant(moment: datetime) -> str:
    """An instant as the R4B models write it back: UTC as ``Z``, any other offset as it is."""
    text = moment.isoformat()
    return f"{text[:-6]}Z" if text.endswith("+00:00") else text


def meta(updated: datetime | None) -> dict:
    return {"lastUpdated": instant(updated)} if updated is not None else {}


def present(value: Any) -> Any:
    """Plain data as the R4B models write it back once validated: absent elements (None) and
    empty lists left out. Serving this instead of the model's own dump is the same JSON
    (``tests/interop/test_fhir.py`` checks every type against the dump) at half the cost: the
    dump of a 200-entry Bundle took as long as validating it."""
    if isinstance(value, dict):
        return {k: present(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [present(v) for v in value]
    return value


def validated(resource: dict) -> dict:
    """The resource checked against its R4B model (a wrong element, cardinality or value type
    raises), as the JSON the model gives back."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return present(resource)


@dataclass(frozen=True)
class SearchParam:
    name: str
    type: str  # FHIR SearchParamType: token, reference, date, string
    documentation: str


@dataclass
class Page:
    resources: list[dict]
    total: int


class Handler(ABC):
    """One resource type. Subclasses set ``type`` and ``search_params`` and implement ``read``
    and ``search``; the view checks authentication and turns errors into OperationOutcomes."""

    type: str = ""
    search_params: Sequence[SearchParam] = ()
    audited: bool = False  # are reads logged (clinical content)?

    def check_access(self, request: HttpRequest) -> None:  # noqa: B027 (a hook: most allow all)
        """Raise ``Forbidden`` when the caller's role may not use this type at all; by default
        every staff role may (the view has already refused anyone without one)."""

    @abstractmethod
    def read(self, request: HttpRequest, ident: str) -> dict:
        """The resource with this id, or ``NotFound``."""

    @abstractmethod
    def search(self, request: HttpRequest, params: Params) -> Page:
        """One page of the resources the caller may see that match ``params``."""

    def params(self, request: HttpRequest) -> Params:
        return Params(request.GET, {p.name for p in self.search_params})

    def audit(self, request: HttpRequest, objects: Sequence[Model], summary: str) -> None:
        """One INSERT for the page, as the staff API's ``AuditedViewMixin`` does."""
        if not self.audits(request):
            return
        record_events(
            build_event(
                actor=request.user,
                action=AuditEvent.Action.READ,
                object_type=object_label(obj),
                object_id=obj.pk,
                patient_id=self.patient_id(obj),
                request=request,
                summary=summary,
                channel="fhir",
            )
            for obj in objects
        )

    def audits(self, request: HttpRequest) -> bool:
        return self.audited

    def patient_id(self, obj: Model) -> int | None:
        return getattr(obj, "patient_id", None)


class ModelHandler(Handler):
    """A resource type backed by one model: integer ids, a visible queryset per caller, a
    filter from the search parameters, one resource per row."""

    @abstractmethod
    def queryset(self, request: HttpRequest) -> QuerySet:
        """The rows of this type the caller may see (the owning app's visibility rule)."""

    def filter(self, queryset: QuerySet, params: Params, request: HttpRequest) -> QuerySet:
        return queryset

    @abstractmethod
    def to_resource(self, obj: Any, request: HttpRequest) -> dict:
        """One row as a FHIR resource (a plain dict, validated by the caller)."""

    def prepare(self, objects: list, request: HttpRequest) -> None:
        """Load, in a fixed number of queries, what ``to_resource`` needs for a page."""

    def read(self, request: HttpRequest, ident: str) -> dict:
        self.check_access(request)
        obj = None
        if ident.isascii() and ident.isdigit() and len(ident) <= 18:
            obj = self.queryset(request).filter(pk=int(ident)).first()
        if obj is None:
            raise NotFound(self.type, ident)
        self.prepare([obj], request)
        resource = validated(self.to_resource(obj, request))
        self.audit(request, [obj], "fhir read")
        return resource

    def search(self, request: HttpRequest, params: Params) -> Page:
        self.check_access(request)
        queryset = self.filter(self.queryset(request), params, request)
        total = queryset.count()
        rows = list(queryset[params.offset : params.offset + params.count]) if params.count else []
        self.prepare(rows, request)
        resources = [self.to_resource(obj, request) for obj in rows]
        self.audit(request, rows, "fhir search")
        return Page(resources, total)


def base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/fhir/R4/")


def searchset(request: HttpRequest, resource_type: str, params: Params, page: Page) -> dict:
    """A ``searchset`` Bundle with ``self`` and, while more remain, ``next`` (and ``previous``)
    links; validated as a whole, which validates every entry against its R4B model."""
    base = base_url(request)

    def link(offset: int) -> str:
        query = [(k, v) for k, v in request.GET.lists() if k != "_offset" for v in v]
        query = [(k, v) for k, v in query if k != "_count"]
        query += [("_count", str(params.count)), ("_offset", str(offset))]
        return f"{base}{resource_type}?{urlencode(query)}"

    links = [{"relation": "self", "url": link(params.offset)}]
    if params.count and params.offset + params.count < page.total:
        links.append({"relation": "next", "url": link(params.offset + params.count)})
    if params.offset > 0:
        links.append({"relation": "previous", "url": link(max(params.offset - params.count, 0))})
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": page.total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base}{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in page.resources
        ],
    }
    Bundle.model_validate(bundle)
    return present(bundle)
