"""The call-back queue: a request from the widget, moved along by front desk."""

from django.db import transaction
from django.utils import timezone

from clinic.errors import FieldProblem, ValidationProblem
from clinic.roles import User
from patients.models import Patient
from patients.services import PURPOSES, match_or_create_patient, record_online_form_consents
from scheduling.models import CallbackRequest
from scheduling.services._common import _user


def _check_name_fits(first: str, last: str) -> None:
    """The name is split into the patient's first and last name, each with its own column: a
    part longer than its column is refused naming the form's ``name``, for a known e-mail and
    a stranger's alike."""
    for part, column in ((first, "first_name"), (last, "last_name")):
        limit = Patient._meta.get_field(column).max_length
        if len(part) > limit:
            raise ValidationProblem(
                "The name is too long to store.",
                [FieldProblem("name", "max_length", f"At most {limit} characters per name.")],
            )


def request_callback(
    *,
    name: str,
    phone: str,
    email: str = "",
    preferred_time: str = "",
    message: str = "",
    consent: dict[str, bool] | None = None,
    client_address: str | None = None,
) -> CallbackRequest:
    """Queue a call-back for front desk. With an e-mail the person is matched or becomes a
    lead, and the consents they gave are recorded."""
    consent = dict(consent or {})
    problems = [
        FieldProblem(field, "required", "This field may not be blank.")
        for field, value in (("name", name), ("phone", phone))
        if not (value or "").strip()
    ]
    if problems:
        raise ValidationProblem("Name and phone are required.", problems)
    with transaction.atomic():
        patient = None
        if email:
            first, _, last = name.strip().partition(" ")
            _check_name_fits(first, last.strip())
            patient, created = match_or_create_patient(
                first_name=first, last_name=last.strip() or "-", email=email, phone=phone
            )
            record_online_form_consents(
                patient,
                created=created,
                choices={k: bool(v) for k, v in consent.items() if k in PURPOSES},
                client_address=client_address,
            )
        return CallbackRequest.objects.create(
            name=name.strip(),
            phone=phone.strip(),
            email=email,
            preferred_time=preferred_time,
            message=message,
            consent=consent,
            patient=patient,
        )


def update_callback(
    callback: CallbackRequest, *, status: str, actor: User | None, note: str | None = None
) -> CallbackRequest:
    """Move a call-back through the queue; who handled it and when are kept."""
    if status not in CallbackRequest.Status.values:
        raise ValidationProblem(
            "Unknown status.",
            [FieldProblem("status", "invalid_choice", "Use new, contacted or closed.")],
        )
    with transaction.atomic():
        callback = CallbackRequest.objects.select_for_update().get(pk=callback.pk)
        callback.status = status
        if status != CallbackRequest.Status.NEW:
            callback.handled_by = _user(actor)
            callback.handled_at = timezone.now()
        if note is not None:
            callback.staff_note = note
        callback.save()
    return callback
