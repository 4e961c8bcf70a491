"""FHIR R4 routes, mounted at ``/fhir/R4/``: ``metadata``, ``<Type>`` (search) and
``<Type>/<id>`` (read) for every served type."""

from django.urls import path

from interop import views
from interop.fhir.registry import HANDLERS

urlpatterns = [path("metadata", views.Metadata.as_view(), name="fhir-metadata")]
for _type in HANDLERS:
    urlpatterns += [
        path(_type, views.search_view(_type), name=f"fhir-{_type.lower()}-search"),
        path(f"{_type}/<str:ident>", views.read_view(_type), name=f"fhir-{_type.lower()}-read"),
    ]
