"""FHIR errors: every failure leaves the API as an ``OperationOutcome`` with its HTTP status."""

from fhir.resources.R4B.operationoutcome import OperationOutcome


class FHIRError(Exception):
    """``code`` is an ``IssueType`` (not-found, invalid, forbidden, login, not-supported...)."""

    def __init__(self, status: int, code: str, diagnostics: str):
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics


class BadParameter(FHIRError):
    def __init__(self, name: str, message: str):
        super().__init__(400, "invalid", f"Search parameter '{name}': {message}")


class NotFound(FHIRError):
    def __init__(self, resource_type: str, resource_id: str):
        super().__init__(404, "not-found", f"{resource_type}/{resource_id} is not known.")


class Forbidden(FHIRError):
    def __init__(self, diagnostics: str):
        super().__init__(403, "forbidden", diagnostics)


def outcome(code: str, diagnostics: str, severity: str = "error") -> dict:
    """A validated OperationOutcome with one issue."""
    return OperationOutcome.model_validate(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
        }
    ).model_dump(mode="json", exclude_none=True)
