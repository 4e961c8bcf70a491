"""Shared admin-form helpers: a domain refusal shown in the service's own words."""

from django import forms

from clinic.errors import DomainError, FieldProblem


def add_problems(
    form: forms.Form, problems: list[FieldProblem], aliases: dict[str, str] | None = None
) -> None:
    """Each problem on the form field it names (through ``aliases`` when the form calls the
    field differently), or on the form as a whole when the form has no such field."""
    aliases = aliases or {}
    for problem in problems:
        name = aliases.get(problem.field, problem.field)
        field = name if name in form.fields else None
        form.add_error(field, forms.ValidationError(problem.message, code=problem.code))


def add_domain_error(
    form: forms.Form, error: DomainError, aliases: dict[str, str] | None = None
) -> None:
    """The one adapter from a service's refusal to admin form errors: the refusal's summary on
    the form, and each of its problems on the field it names (a problem naming no field of the
    form joins the summary, unless it only repeats it). Admin forms never restate a rule; they
    call the service and show what it said."""
    aliases = aliases or {}
    form.add_error(None, error.detail)
    for problem in error.errors:
        name = aliases.get(problem.field, problem.field)
        field = name if name in form.fields else None
        if field is None and problem.message == error.detail:
            continue
        form.add_error(field, forms.ValidationError(problem.message, code=problem.code))
