"""The FHIR R4 endpoints: thin views over ``interop.fhir`` handlers. Staff tokens (or a staff
session), ``application/fhir+json``, and every error as an OperationOutcome."""

from django.db import DataError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.api.permissions import IsStaffMember
from interop.fhir import registry
from interop.fhir.base import searchset
from interop.fhir.errors import FHIRError, outcome

FHIR_JSON = "application/fhir+json"


class FHIRJSONRenderer(JSONRenderer):
    media_type = FHIR_JSON
    format = "fhir+json"
    charset = "utf-8"


class AlwaysFHIRJSON(BaseContentNegotiation):
    """JSON is the one format served, whatever the Accept header or ``_format`` asks."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome: a bad parameter"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome: no staff token"),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome: role may not"),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="OperationOutcome: unknown id"),
}


class FHIRView(APIView):
    renderer_classes = [FHIRJSONRenderer]
    content_negotiation_class = AlwaysFHIRJSON
    permission_classes = [IsStaffMember]
    resource_type = ""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, FHIRError):
            return Response(outcome(exc.code, exc.diagnostics), status=exc.status)
        if isinstance(exc, DataError):
            # The database refused a value (a number or date out of its range): the client's.
            return Response(outcome("invalid", "A search value is out of range."), status=400)
        if isinstance(exc, Http404):
            return Response(outcome("not-found", "Not found."), status=404)
        if isinstance(exc, exceptions.APIException):
            response = super().handle_exception(exc)
            code = {401: "login", 403: "forbidden", 405: "not-supported", 429: "throttled"}
            response.data = outcome(code.get(response.status_code, "processing"), str(exc.detail))
            response.content_type = None  # the renderer's application/fhir+json, not problem+json
            return response
        raise exc

    @property
    def handler(self):
        return registry.HANDLERS[self.resource_type]


@extend_schema(
    tags=["fhir"],
    summary="CapabilityStatement",
    responses={
        200: OpenApiResponse(OpenApiTypes.OBJECT, description="CapabilityStatement"),
        **ERRORS,
    },
)
class Metadata(FHIRView):
    def get(self, request: Request) -> Response:
        return Response(registry.capability_statement(request))


class Search(FHIRView):
    def get(self, request: Request) -> Response:
        handler = self.handler
        params = handler.params(request)
        page = handler.search(request, params)
        return Response(searchset(request, handler.type, params, page))


class Read(FHIRView):
    def get(self, request: Request, ident: str) -> Response:
        return Response(self.handler.read(request, ident))


def search_view(resource_type: str):
    params = [
        OpenApiParameter(
            p.name, OpenApiTypes.STR, OpenApiParameter.QUERY, description=p.documentation
        )
        for p in registry.HANDLERS[resource_type].search_params
    ] + [
        OpenApiParameter(
            "_offset",
            OpenApiTypes.INT,
            OpenApiParameter.QUERY,
            description="Paging offset (from the next link).",
        )
    ]
    schema = extend_schema_view(
        get=extend_schema(
            tags=["fhir"],
            summary=f"Search {resource_type} (Bundle searchset)",
            parameters=params,
            responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Bundle"), **ERRORS},
            operation_id=f"fhir_{resource_type}_search",
        )
    )
    return schema(
        type(f"{resource_type}Search", (Search,), {"resource_type": resource_type})
    ).as_view()


def read_view(resource_type: str):
    schema = extend_schema_view(
        get=extend_schema(
            tags=["fhir"],
            summary=f"Read {resource_type}",
            parameters=[
                OpenApiParameter(
                    "ident", OpenApiTypes.STR, OpenApiParameter.PATH, description="The resource id."
                )
            ],
            responses={
                200: OpenApiResponse(OpenApiTypes.OBJECT, description=resource_type),
                **ERRORS,
            },
            operation_id=f"fhir_{resource_type}_read",
        )
    )
    return schema(type(f"{resource_type}Read", (Read,), {"resource_type": resource_type})).as_view()
