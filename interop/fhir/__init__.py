"""FHIR R4 resources built from the clinic's records and validated with ``fhir.resources``.

The installed ``fhir.resources`` 8.x ships the FHIR R5 models at its top level and the R4B
(4.3.0) and STU3 models in sub-packages; it has no R4 (4.0.1) package. R4B is the R4-compatible
set: it changed nothing in the resources served here beyond additions R4 clients ignore, so
every resource is validated against ``fhir.resources.R4B`` and the server declares
``fhirVersion`` 4.0.1.
"""
